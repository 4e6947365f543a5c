import ArgumentParser
import Foundation
import Logging
import ThawData
import ThawLauncher
import ThawLearning
import ThawModel
import ThawNN
import ThawNodes
import ThawTopology

/// `thaw up`: the whole system from one topology file, as separate processes.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start every node of a topology as its own process, run to the goal, and report.",
        discussion: """
            Without a file, runs the embedded default topology (Topologies/local.yaml). The base model is \
            pretrained first (or reused from the output folder), then registry, coordinator, workers, \
            monitor and devices start in that order. A node that exits unexpectedly is restarted with \
            back-off (at most 5 restarts within 60 s per node). Stops on the goal (exit status 0), the time \
            limit (2), a node that keeps failing (3) or Ctrl-C (130).
            """)

    @Argument(help: "Topology YAML file (default: the embedded local topology).")
    var topology: String?

    @Option(help: "Run every worker node with this many processes.")
    var workers: Int?

    @Option(help: "Output folder: base model, state, logs, report.")
    var out: String = "thaw-out"

    @Option(help: "MNIST-with-writers folder to use instead of the shipped subset.")
    var data: String?

    @Option(help: "Stop after this many seconds even if the goal is not reached.")
    var timeLimit: Int?

    @Flag(help: "Keep registry and device state from an earlier run instead of starting fresh.")
    var keepState = false

    @Option(help: "Log level for this launcher.")
    var logLevel: String = "info"

    func run() async throws {
        LogSetup.bootstrap(level: Logger.Level(rawValue: logLevel) ?? .info)
        let logger = Logger(label: "thaw.up")
        let fileManager = FileManager.default
        try fileManager.createDirectory(atPath: out, withIntermediateDirectories: true)
        var loaded: Topology
        let topologyPath: String
        if let topology {
            loaded = try Topology.load(path: topology)
            topologyPath = topology
        } else {
            topologyPath = "\(out)/topology.yaml"
            try Topology.embeddedDefault.write(toFile: topologyPath, atomically: true, encoding: .utf8)
            loaded = try Topology.embedded()
        }
        if let workers { loaded = try loaded.overridingWorkerCount(workers) }
        if !keepState {
            try? fileManager.removeItem(atPath: "\(out)/state")
            for node in loaded.nodes where node.role == .registry {
                let database = node.options.registry?.database ?? ""
                // A server database is the operator's to reset, never `thaw up`'s.
                if RegistryBackends.isServer(database) { continue }
                for suffix in ["", "-wal", "-shm"] { try? fileManager.removeItem(atPath: database + suffix) }
            }
        }
        let dataset = try data.map { try HandwritingDataset.load(directory: URL(fileURLWithPath: $0)) }
            ?? HandwritingDataset.shipped()
        let modelPath = loaded.model.cache ?? "\(out)/base-model.thaw"
        try BaseModelPreparation.prepare(at: modelPath, settings: loaded.model, seed: loaded.seed, dataset: dataset)

        var extra: [Role: [String]] = [:]
        if let data { extra[.device] = ["--data", data]; extra[.fedavg] = ["--data", data] }
        if let keys = try Self.prepareKeys(loaded, out: out, dataset: dataset) {
            for role in Role.allCases { extra[role, default: []] += ["--keys", keys] }
        }
        if let workers { for role in Role.allCases { extra[role, default: []] += ["--workers", "\(workers)"] } }
        let limit = timeLimit.map { Duration.seconds($0) } ?? loaded.goal.duration ?? .seconds(600)
        let launcher = TopologyLauncher(
            configuration: .init(
                executable: try Self.ownExecutable(), topologyPath: topologyPath, baseModelPath: modelPath,
                outputDirectory: out, timeLimit: limit, extraArguments: extra),
            topology: loaded, logger: logger)
        let report = try await launcher.run(shutdown: ShutdownSignal())
        let text = report.render()
        try text.write(toFile: "\(out)/report.txt", atomically: true, encoding: .utf8)
        FileHandle.standardOutput.write(Data((text + "report written to \(out)/report.txt\n").utf8))
        // Non-zero whenever the goal was not reached: time limit 2, a node kept failing 3, interrupted 130.
        if report.exitCode != 0 { throw ExitCode(report.exitCode) }
    }

    /// CURVE keys for a topology with tcp endpoints: generated into `<out>/keys` (missing ones only)
    /// unless the topology names its own key folder or allowlist, which are then used as they are.
    /// - Returns: the folder to pass to every node as `--keys`, or nil.
    static func prepareKeys(_ topology: Topology, out: String, dataset: HandwritingDataset) throws -> String? {
        guard topology.usesCurve else { return nil }
        guard topology.security.keys == nil, topology.security.allowlist == nil else {
            BaseModelPreparation.say("CURVE on tcp endpoints; keys from \(topology.keysDirectory(override: nil))")
            return nil
        }
        let directory = "\(out)/keys"
        let outcome = try TopologyKeys.generate(for: topology, keysOverride: directory, dataset: dataset)
        BaseModelPreparation.say(
            "CURVE on tcp endpoints; keys in \(directory) (\(outcome.created.count) new, \(outcome.kept.count) kept), "
                + "allowlist of \(outcome.allowlist.entries.count) keys")
        return directory
    }

    /// This binary's absolute path, so children run exactly the same build.
    static func ownExecutable() throws -> String {
        try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    }
}

/// Makes sure a base model exists: reuses a valid checkpoint, or pretrains one and saves it.
enum BaseModelPreparation {
    static func prepare(at path: String, settings: ModelSettings, seed: UInt64, dataset: HandwritingDataset) throws {
        if FileManager.default.fileExists(atPath: path), (try? ModelCheckpoint.load(from: path)) != nil {
            say("reusing base model \(path)")
            return
        }
        let share = min(max(settings.pretrainShare, 0.01), 1)
        let job = PretrainJob(
            architecture: .fedAvgCNN(classes: 10), epochs: settings.pretrainEpochs, batchSize: settings.batchSize,
            learningRate: Float(settings.learningRate), seed: seed,
            trainingLimit: Int(Double(dataset.train.count) * share))
        say(
            "pretraining the base model (FedAvg CNN, \(settings.pretrainEpochs) epochs on "
                + "\(job.trainingLimit ?? dataset.train.count) training images)…")
        let start = ContinuousClock.now
        let result = job.run(on: dataset)
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try ModelCheckpoint.save(result.model, version: ModelVersion(1), to: path)
        say(
            "base model: test accuracy \(String(format: "%.2f%%", result.test.overall * 100)) "
                + "in \(ContinuousClock.now - start); saved to \(path)")
    }

    /// Unbuffered, so these lines keep their order with the launcher's own progress lines.
    static func say(_ text: String) {
        FileHandle.standardOutput.write(Data("[thaw up] \(text)\n".utf8))
    }
}
