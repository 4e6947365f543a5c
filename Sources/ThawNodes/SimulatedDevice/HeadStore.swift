import Foundation

/// The parameters of every head a device process's phones run, by head hash, one copy each.
///
/// A head is 6.4 MB at freeze point 7 of the FedAvg CNN, and the phones of one user run several versions
/// at once (each pulls at its own time and swaps in what its gate accepts): at 10,000 phones 348 distinct
/// heads were held in memory, 2.1 GiB of a 2.8 GiB process (docs/RELIABILITY.md). A phone needs its
/// head's parameters only when a newer head is pulled and its gate compares the two, so the store keeps
/// in memory the heads still arriving (each user's newest, and the one just swapped in) and writes the
/// others to a file of their own under the process's state directory (`heads/<hash>.f32`, the floats'
/// bit patterns little-endian), from which the compute queue reads one back when a gate needs it. Phones
/// hold the hash, not the parameters. Files are written on the compute queue, so a gate job submitted
/// after the write always finds its file; they are removed when the process starts (nothing held in
/// them survives a restart: a restarted phone pulls its head again).
///
/// Owned by the fleet's task.
struct HeadStore {
    let directory: String
    private(set) var inMemory: [String: [Float]] = [:]
    private(set) var onDisk: Set<String> = []
    /// Heads written out so far.
    private(set) var spilled = 0

    /// Creates an empty store in `directory`, removing what an earlier process left there.
    init(directory: String) {
        self.directory = directory
        try? FileManager.default.removeItem(atPath: directory)
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func path(_ hash: String) -> String { "\(directory)/\(hash).f32" }

    /// The parameters of `hash` if they are in memory.
    func parameters(_ hash: String) -> [Float]? { inMemory[hash] }

    /// Where a job finds head `hash`: its parameters in memory, else its file (nil: not known here).
    func source(_ hash: String) -> (parameters: [Float]?, file: String?) {
        if let parameters = inMemory[hash] { return (parameters, nil) }
        return (nil, onDisk.contains(hash) ? path(hash) : nil)
    }

    /// Stores `parameters` under `hash`, or returns the copy already held if it has the same bits.
    mutating func put(_ hash: String, _ parameters: [Float]) -> [Float] {
        if let known = inMemory[hash], DeviceFleet.sameScalars(known, parameters) { return known }
        inMemory[hash] = parameters
        return parameters
    }

    /// Writes every head in memory but those in `keeping` to its file (on `queue`, in submission order
    /// with the jobs that read them) and drops it from memory.
    mutating func spill(keeping: Set<String>, on queue: FleetCompute) {
        for (hash, parameters) in inMemory where !keeping.contains(hash) {
            inMemory.removeValue(forKey: hash)
            guard !onDisk.contains(hash) else { continue }
            onDisk.insert(hash)
            spilled += 1
            let path = self.path(hash)
            queue.submit(kind: "compute.headSpill") { Self.write(parameters, to: path) }
        }
    }

    static func write(_ parameters: [Float], to path: String) {
        let data = parameters.withUnsafeBytes { Data($0) }
        FileManager.default.createFile(atPath: path, contents: data)
    }

    /// The parameters written to `path` (nil: unreadable, or not a whole number of floats).
    static func read(_ path: String) -> [Float]? {
        guard let data = FileManager.default.contents(atPath: path), data.count % 4 == 0 else { return nil }
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}
