/// One phone's account as read back from its persisted state, after its device process has exited
/// (gracefully or killed): what `thaw up`'s report states about batches, whatever happened at the end.
///
/// Only what the phone keeps durably is here: samples it annotated, batch sequence numbers it used,
/// which of them the registry acknowledged, and what is still waiting. Accuracy, heads and energy
/// live only in the process and come from its final `device-report` line when it printed one.
package struct PersistedPhoneReport: Codable, Sendable, Equatable {
    package var device: String
    /// Annotated samples the phone keeps labels for.
    package var annotated: Int
    /// Batch sequence numbers the phone has used (each batch it formed, sent at least once).
    package var batchesSent: Int
    /// Batches among those whose entries the registry acknowledged as durable (and the phone still caches).
    package var batchesAcknowledged: Int
    /// Batches sent and not yet acknowledged: the outbox, re-sent under the same numbers after a restart.
    package var batchesUnacknowledged: Int
    /// Annotated samples not yet in any batch.
    package var samplesPending: Int
    package var cacheEntries: Int
    /// The deployment epoch the phone last applied (0 before it saw one).
    package var deploymentEpoch: UInt64
    /// Why no state could be read (no file yet, or a file that does not decode); nil when it was read.
    package var problem: String?
}

extension DeviceFleetNode {
    /// The persisted accounts of the `phones` phones of device node `node`, whose state lives under
    /// `stateDirectory` (the node's own folder, `<state-dir>/<node>`), in phone order. Reads files only;
    /// safe while no process writes them (call it after the device process has exited).
    ///
    /// Kept working over whatever store the device process uses (today: one `<node>-<n>.cache` file per phone).
    package static func persistedReports(stateDirectory: String, node: String, phones: Int) -> [PersistedPhoneReport] {
        (0..<max(phones, 0)).map { number in
            let device = "\(node)-\(number)"
            let store = DeviceCacheStore(path: "\(stateDirectory)/\(device).cache")
            let snapshot: DeviceSnapshot?
            let problem: String?
            do {
                snapshot = try store.load()
                problem = snapshot == nil ? "no state file at \(store.path)" : nil
            } catch {
                snapshot = nil
                problem = "\(error)"
            }
            return PersistedPhoneReport(device: device, snapshot: snapshot, problem: problem)
        }
    }
}

extension PersistedPhoneReport {
    init(device: String, snapshot: DeviceSnapshot?, problem: String?) {
        var durable = Set<UInt64>()
        var inFlight = Set<UInt64>()
        var pending = 0
        for entry in snapshot?.entries ?? [] where entry.annotated {
            switch entry.upload {
            case .pending: pending += 1
            case .inFlight(let seq): inFlight.insert(seq)
            case .durable(let seq): durable.insert(seq)
            }
        }
        self.init(
            device: device, annotated: snapshot?.annotatedLabels.count ?? 0,
            batchesSent: Int(max(snapshot?.nextSequence ?? 1, 1) - 1), batchesAcknowledged: durable.count,
            batchesUnacknowledged: inFlight.count, samplesPending: pending, cacheEntries: snapshot?.entries.count ?? 0,
            deploymentEpoch: snapshot?.deployment?.epoch ?? 0, problem: problem)
    }
}
