import ArgumentParser
import Foundation
import Logging
import ThawDashboard
import ThawData
import ThawLauncher
import ThawNodes
import ThawTopology
import ThawZMQ

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
            let configuration = try settings.registry(baseModelBytes: bytes)
            if !RegistryBackends.isServer(configuration.databasePath) {
                try FileManager.default.createDirectory(
                    atPath: (configuration.databasePath as NSString).deletingLastPathComponent,
                    withIntermediateDirectories: true)
            }
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

/// `thaw monitor`: shows broadcasts and metrics; `--attach` joins a running system as one more
/// monitor, `--http`/`--prometheus` serve the live dashboard and `/metrics` (docs/MONITORING.md).
struct MonitorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor", abstract: "Show deployment state and every role's metrics, live.")
    @OptionGroup var options: NodeOptions
    @Flag(help: "Print JSON lines instead of a table.")
    var json = false
    @Flag(help: "Attach to the running monitor node (--node) through its `watch` endpoint instead of being that node; any number may attach.")
    var attach = false
    @Option(help: "Serve the live dashboard (/), its state (/state.json, /live) and /metrics on HOST:PORT (default: the topology's `http` option).")
    var http: String?
    @Option(help: "Serve Prometheus /metrics (and the dashboard) on HOST:PORT.")
    var prometheus: String?
    @Flag(help: "Print nothing but the ready line (for a monitor that only serves HTTP).")
    var quiet = false

    func run() async throws {
        let logger = options.logger(role: "monitor")
        try await runNode(logger) { shutdown in
            let topology = try options.loadTopology()
            guard let instance = topology.instance(named: options.node), instance.role == .monitor else {
                throw NodeError(.badConfiguration, "\(topology.origin): '\(options.node)' is not a monitor node")
            }
            let monitorOptions = instance.spec.options.monitor ?? MonitorOptions()
            var configuration: MonitorNode.Configuration
            if attach {
                // Needs neither the base model nor the bound metrics endpoint: only the hub's `watch` PUB.
                guard let watch = instance.endpoints["watch"] else {
                    throw NodeError(
                        .badConfiguration,
                        "\(topology.origin): monitor '\(instance.name)' declares no 'watch' endpoint to attach to")
                }
                configuration = .attaching(
                    name: "\(instance.name)-attached-\(getpid())", hub: Endpoint(watch.description),
                    interval: monitorOptions.interval, json: json)
                // Over CURVE an attached monitor is an operator tool: it connects with the `ctl` key,
                // as `thaw ctl` does, and trusts the monitor node's server key (docs/MONITORING.md).
                configuration.curve = try topology.curve(keyName: "ctl", binds: false, keysDirectory: options.keys)
            } else {
                configuration = try options.settings(withBaseModel: false).monitor(json: json)
                configuration.watch = instance.endpoints["watch"].map { Endpoint($0.bindAddress.description) }
            }
            configuration.quiet = quiet
            let addresses = Set([http ?? (attach ? nil : monitorOptions.http), prometheus].compactMap { $0 })
            let holder = BoardHolder()
            let servers = try addresses.sorted().map { try DashboardServer(hostPort: $0, holder: holder) }
            if !servers.isEmpty { configuration.observer = { holder.update($0) } }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for server in servers { group.addTask { try await server.run() } }
                for (index, server) in servers.enumerated() {
                    let url = try await server.waitForURL()
                    // In the ready line (`"http": URL`), which is the first line a monitor prints.
                    configuration.readyEndpoints[index == 0 ? "http" : "http-\(index)"] = url
                    logger.notice("dashboard at \(url), Prometheus metrics at \(url)metrics")
                }
                try await MonitorNode(configuration: configuration, logger: logger).run(shutdown: shutdown)
                for server in servers { await server.stop() }
                group.cancelAll()
            }
        }
    }
}
