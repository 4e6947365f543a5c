import Foundation
import ThawData
import ThawLauncher
import ThawNN
import ThawNodes
import ThawSimulation
import ThawTopology

/// `thaw bench freeze-move`: Thaw's freeze-move handling against the naive "drop the cache and
/// re-extract everything" policy, on a topology's phones (docs/FREEZE-MOVES.md).
///
/// Uses the topology's device count, users, annotation share and freeze point, the shipped data, and
/// the FedAvg CNN with seeded weights (the weights change no byte, FLOP or joule count). Every scenario
/// runs on a fresh registry database, once per policy and run; bytes and FLOPs are exact counts, times
/// are medians of the runs.
public struct FreezeMoveBenchmark {
    public struct Prices: Codable, Sendable {
        /// Placeholder until a cited device profile exists (issue 5).
        public var joulesPerFLOP: Double
        public var radioJoulesPerByte: Double
        public var radioTailJoules: Double

        public init(joulesPerFLOP: Double, radioJoulesPerByte: Double, radioTailJoules: Double) {
            self.joulesPerFLOP = joulesPerFLOP
            self.radioJoulesPerByte = radioJoulesPerByte
            self.radioTailJoules = radioTailJoules
        }
    }

    public struct Result: Codable, Sendable {
        public var scenario: String
        public var policy: FreezeMoveSimulation.Policy
        public var tally: FreezeMoveSimulation.Tally
        public var deviceJoules: Double
        public var computeJoules: Double
        public var radioJoules: Double
    }

    public var topology: Topology
    public var runs: Int
    public var checkpointBudgetBytes: Int
    public var prices: Prices
    public var scratch: String

    public init(topology: Topology, runs: Int, checkpointBudgetBytes: Int, prices: Prices, scratch: String) {
        self.topology = topology
        self.runs = runs
        self.checkpointBudgetBytes = checkpointBudgetBytes
        self.prices = prices
        self.scratch = scratch
    }

    /// (name, freeze points visited; only the last move is measured).
    public static func scenarios(from k: Int) -> [(String, [Int])] {
        [
            ("deeper k\(k)->\(k + 1)", [k + 1]),
            ("deeper k\(k)->\(k + 2)", [k + 2]),
            ("shallower k\(k)->\(k - 1)", [k - 1]),
            ("shallower k\(k)->3", [3]),
            ("shallower back k\(k)->\(k + 1)->\(k)", [k + 1, k]),
        ]
    }

    public func run(progress: (String) -> Void) throws -> (checkpoints: [Int], annotated: Int, results: [Result]) {
        let dataset = try HandwritingDataset.shipped()
        let k = topology.nodes.first { $0.role == .coordinator }?.options.coordinator?.freezePoint ?? 7
        let device = topology.instances(of: .device).first
        let options = device?.spec.options.device ?? DeviceOptions()
        let count = device?.spec.count ?? 1
        let users = NodeSettings.pickUsers(dataset, count: count, seed: topology.seed)
        let splitter = UserSplitter(adaptationFraction: 0.5, seed: topology.seed)
        var generator = SeededGenerator(seed: topology.seed)
        let phones = users.map { writer -> FreezeMoveSimulation.PhoneSpec in
            let stream = splitter.split(dataset.test, writer: writer).adaptation
            let annotated = stream.filter { _ in Double.random(in: 0..<1, using: &generator) < options.annotationShare }
            return FreezeMoveSimulation.PhoneSpec(
                user: "writer-\(writer)",
                samples: annotated.map { (UInt64($0), Int(dataset.test.labels[$0])) })
        }
        let annotated = phones.reduce(0) { $0 + $1.samples.count }
        let architecture = ModelArchitecture.fedAvgCNN()
        let model = Model(architecture: architecture, seed: topology.seed)
        let perPhone = max(1, annotated / max(phones.count, 1))
        let checkpoints = CheckpointPlacement(
            architecture: architecture, freezePoint: FreezePoint(k), joulesPerFLOP: prices.joulesPerFLOP
        ).plan(budgetBytesPerSample: checkpointBudgetBytes / perPhone).layers
        let state = DeploymentState(
            modelVersion: ModelVersion(1), modelHash: "bench", freezePoint: FreezePoint(k),
            hyperParameterHash: "bench", epoch: 1)
        let samples = dataset.test
        let image: (UInt64) -> Tensor = { id in
            Tensor(shape: [1, 1, samples.rows, samples.columns], scalars: samples.floatPixels([Int(id)]))
        }

        var results: [Result] = []
        for (name, path) in Self.scenarios(from: k) {
            for policy in [FreezeMoveSimulation.Policy.thaw, .naive] {
                var tallies: [FreezeMoveSimulation.Tally] = []
                for run in 0..<runs {
                    let path0 = "\(scratch)/freeze-bench-\(getpid())-\(run).sqlite"
                    defer {
                        for suffix in ["", "-wal", "-shm"] {
                            try? FileManager.default.removeItem(atPath: path0 + suffix)
                        }
                    }
                    let store = try RegistryStore(path: path0)
                    defer { try? store.close() }
                    var simulation = FreezeMoveSimulation(
                        model: model, store: store, state: state, phones: phones, checkpointLayers: checkpoints,
                        image: image)
                    try simulation.populate()
                    var tally = FreezeMoveSimulation.Tally()
                    for point in path { tally = try simulation.move(to: FreezePoint(point), policy: policy) }
                    tallies.append(tally)
                }
                var tally = tallies[0]
                tally.wallSeconds = Self.median(tallies.map(\.wallSeconds))
                tally.deviceSeconds = Self.median(tallies.map(\.deviceSeconds))
                tally.cloudSeconds = Self.median(tallies.map(\.cloudSeconds))
                let compute = tally.deviceFLOPs * prices.joulesPerFLOP
                // One radio tail per phone that transmitted; the head request every phone sends on a move
                // (both policies) is not counted for either.
                let radio =
                    Double(tally.bytesUploaded + tally.controlBytesUploaded) * prices.radioJoulesPerByte
                    + Double(tally.radioSessions) * prices.radioTailJoules
                let result = Result(
                    scenario: name, policy: policy, tally: tally, deviceJoules: compute + radio,
                    computeJoules: compute, radioJoules: radio)
                results.append(result)
                let flops = String(format: "%.3g", tally.deviceFLOPs)
                let joules = String(format: "%.3f", compute + radio)
                let wall = String(format: "%.3f", tally.wallSeconds)
                progress(
                    "\(name) \(policy.rawValue): uploaded \(tally.bytesUploaded) B in \(tally.batchesUploaded) batches "
                        + "(+\(tally.controlBytesUploaded) B sync), device \(flops) FLOP, \(joules) J, wall \(wall) s, "
                        + "cloud holds \(tally.cloudSamplesAtTarget)/\(annotated) at target")
            }
        }
        return (checkpoints, annotated, results)
    }

    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
}
