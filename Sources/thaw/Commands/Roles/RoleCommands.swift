import ArgumentParser
import Foundation
import ThawData
import ThawLauncher
import ThawNodes
import ThawTopology

/// `thaw coordinator`: owns model version and freeze point, publishes them.
struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator", abstract: "Run the coordinator: deployment state, broadcasts, ctl commands.")
    @OptionGroup var options: NodeOptions

    func run() async throws {
        let logger = options.logger(role: "coordinator")
        try await runNode(logger) { shutdown in
            let node = CoordinatorNode(configuration: try options.settings().coordinator(), logger: logger)
            try await node.run(shutdown: shutdown)
        }
    }
}

/// `thaw registry`: the durable store of base models, heads and features.
struct RegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry", abstract: "Run the registry: base models, per-user heads, the feature store.")
    @OptionGroup var options: NodeOptions

    func run() async throws {
        let logger = options.logger(role: "registry")
        try await runNode(logger) { shutdown in
            let settings = try options.settings()
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: options.baseModelPath)))
            var configuration = try settings.registry(baseModelBytes: bytes)
            try FileManager.default.createDirectory(
                atPath: (configuration.databasePath as NSString).deletingLastPathComponent,
                withIntermediateDirectories: true)
            configuration.databasePath = configuration.databasePath
            try await RegistryNode(configuration: configuration, logger: logger).run(shutdown: shutdown)
        }
    }
}

/// `thaw worker`: trains users' heads from flushed activations.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Run a trainer worker: PULL feature batches, train heads, commit them.")
    @OptionGroup var options: NodeOptions

    func run() async throws {
        let logger = options.logger(role: "worker")
        try await runNode(logger) { shutdown in
            // A worker gets the model from the registry; a base model file is loaded only if there is one.
            var settings = try NodeSettings(
                topology: try options.loadTopology(), node: options.node,
                baseModelPath: options.optionalBaseModelPath, stateDirectory: options.stateDir)
            settings.keysDirectory = options.keys
            let node = TrainerWorkerNode(configuration: try settings.worker(), logger: logger)
            try await node.run(shutdown: shutdown)
        }
    }
}

/// `thaw device`: one process simulating one or many phones.
struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device", abstract: "Run simulated phones: cache activations, flush them, pull heads.")
    @OptionGroup var options: NodeOptions
    @Option(help: "MNIST-with-writers folder to use instead of the shipped subset.")
    var data: String?
    @Option(help: "Simulate this many phones (overrides the topology's count).")
    var count: Int?

    func run() async throws {
        let logger = options.logger(role: "device")
        try await runNode(logger) { shutdown in
            let dataset = try data.map { try HandwritingDataset.load(directory: URL(fileURLWithPath: $0)) }
                ?? HandwritingDataset.shipped()
            var topology = try options.loadTopology()
            if let count, let index = topology.nodes.firstIndex(where: { $0.name == options.node }) {
                topology.nodes[index].count = count
            }
            var settings = try NodeSettings(
                topology: topology, node: options.node, baseModelPath: options.optionalBaseModelPath,
                stateDirectory: options.stateDir)
            settings.keysDirectory = options.keys
            if settings.fedAvgServerPeer != nil {
                let node = FedAvgFleetNode(
                    configuration: try settings.fedAvgFleet(dataset: dataset), baseModel: settings.baseModel,
                    dataset: dataset, logger: logger)
                return try await node.run(shutdown: shutdown)
            }
            let node = DeviceFleetNode(
                configuration: try settings.device(dataset: dataset), dataset: dataset, logger: logger)
            try await node.run(shutdown: shutdown)
        }
    }
}

/// `thaw fedavg`: the Federated Averaging server (docs/FEDAVG.md); exits after its last round.
struct FedAvgCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fedavg", abstract: "Run a FedAvg server: select phones, send the global head, average their updates.")
    @OptionGroup var options: NodeOptions
    @Option(help: "MNIST-with-writers folder to use instead of the shipped subset.")
    var data: String?

    func run() async throws {
        let logger = options.logger(role: "fedavg")
        try await runNode(logger) { shutdown in
            let dataset = try data.map { try HandwritingDataset.load(directory: URL(fileURLWithPath: $0)) }
                ?? HandwritingDataset.shipped()
            let settings = try options.settings()
            let node = FedAvgServerNode(
                configuration: try settings.fedAvgServer(), baseModel: settings.baseModel, dataset: dataset,
                logger: logger)
            try await node.run(shutdown: shutdown)
        }
    }
}

/// `thaw monitor`: shows broadcasts and metrics.
struct MonitorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor", abstract: "Show deployment state and every role's metrics, live.")
    @OptionGroup var options: NodeOptions
    @Flag(help: "Print JSON lines instead of a table.")
    var json = false

    func run() async throws {
        let logger = options.logger(role: "monitor")
        try await runNode(logger) { shutdown in
            // A monitor reads no model: it needs only the topology (its metrics endpoint, the coordinator's).
            let node = MonitorNode(
                configuration: try options.settings(withBaseModel: false).monitor(json: json), logger: logger)
            try await node.run(shutdown: shutdown)
        }
    }
}
