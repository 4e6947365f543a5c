import Foundation
import ThawData
import ThawModel
import ThawNN
import ThawNodes
import ThawTopology
import ThawWire
import ThawZMQ

/// Builds each role's configuration from a topology, the node's name and the base model file, so
/// that `thaw up` and a role started by hand (`thaw worker --topology T --node worker-1`) agree.
public struct NodeSettings: Sendable {
    public let topology: Topology
    public let instance: NodeInstance
    /// The base model file and its content hash, loaded only when a path was given: the coordinator,
    /// the registry and the FedAvg roles read it; the monitor, workers and Thaw phones do not.
    private let loadedModel: (contents: ModelCheckpoint.Contents, hash: String)?
    /// The base model every role that reads it derives version, hash, layer count and hyper-parameter
    /// hash from. Only for settings made with a base model path (``requireBaseModel()`` says so as an error).
    public var baseModel: ModelCheckpoint.Contents {
        guard let loadedModel else { preconditionFailure("NodeSettings made without --base-model for \(instance.name)") }
        return loadedModel.contents
    }
    public var baseModelHash: String {
        guard let loadedModel else { preconditionFailure("NodeSettings made without --base-model for \(instance.name)") }
        return loadedModel.hash
    }
    /// Folder for state files (coordinator state, device caches) when the topology names none.
    public let stateDirectory: String
    /// The key folder given on the command line (`--keys`); nil: the topology's, else `thaw-out/keys`.
    public var keysDirectory: String? = nil

    /// - Parameter baseModelPath: the base model file; nil for a role that does not read it.
    public init(topology: Topology, node: String, baseModelPath: String?, stateDirectory: String) throws {
        guard let instance = topology.instance(named: node) else {
            let names = topology.instances.map(\.name).joined(separator: ", ")
            throw NodeError(.badConfiguration, "\(topology.origin): no node named '\(node)' (nodes: \(names))")
        }
        self.topology = topology
        self.instance = instance
        if let baseModelPath {
            guard FileManager.default.fileExists(atPath: baseModelPath) else {
                throw NodeError(
                    .badConfiguration,
                    "\(instance.role) '\(node)' needs the base model, and there is no file at \(baseModelPath) "
                        + "(--base-model FILE; `thaw pretrain` or `thaw up` writes one)")
            }
            let contents = try ModelCheckpoint.load(from: baseModelPath)
            let hash = ContentHash.model(architecture: contents.architecture, parameters: contents.parameters).hex
            self.loadedModel = (contents, hash)
        } else {
            self.loadedModel = nil
        }
        self.stateDirectory = stateDirectory
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
    }

    /// Throws unless the base model was loaded: the error names the role, the node and the flag.
    public func requireBaseModel() throws {
        guard loadedModel == nil else { return }
        throw NodeError(
            .badConfiguration,
            "\(instance.role) '\(instance.name)' needs the base model: pass --base-model FILE "
                + "(`thaw pretrain` or `thaw up` writes one)")
    }

    // MARK: - Shared values

    /// The head-training recipe of the topology's (first) worker node.
    public var recipe: TrainingRecipe {
        let options = topology.nodes.first { $0.role == .worker }?.options.worker ?? WorkerOptions()
        let momentum = options.optimiser == .sgd ? 0 : Float(options.momentum)
        return TrainingRecipe(
            optimizer: .sgd(learningRate: Float(options.learningRate), momentum: momentum, weightDecay: 0),
            epochs: options.epochs, batchSize: options.batchSize,
            activationEncoding: ActivationEncoding(rawValue: options.activationEncoding.rawValue) ?? .float32,
            headInterpolation: Float(options.headInterpolation),
            // The topology loader checked both against ActivationNoise's ranges, so this cannot fail.
            activationNoise: options.activationNoise.flatMap { try? ActivationNoise(clip: $0.clip, sigma: $0.sigma) })
    }

    public var initialDeployment: DeploymentState {
        let freeze = topology.nodes.first { $0.role == .coordinator }?.options.coordinator?.freezePoint ?? 2
        return DeploymentState(
            modelVersion: baseModel.version, modelHash: baseModelHash, freezePoint: FreezePoint(freeze),
            hyperParameterHash: recipe.hash(architecture: baseModel.architecture), epoch: 1)
    }

    func endpoint(_ role: Role, _ key: String) throws -> Endpoint {
        guard let address = topology.instances(of: role).first?.endpoints[key] else {
            throw NodeError(.badConfiguration, "\(topology.origin): the topology has no \(role) with a '\(key)' endpoint")
        }
        return Endpoint(address.description)
    }

    /// The ROUTER endpoints of every registry after the first: replicas over one PostgreSQL database.
    var registryReplicaEndpoints: [Endpoint] {
        topology.instances(of: .registry).dropFirst().compactMap { $0.endpoints["router"] }
            .map { Endpoint($0.description) }
    }

    /// Every worker's PULL endpoint (devices push batches there; the registry pushes retrain requests).
    var workerEndpoints: [Endpoint] {
        topology.instances(of: .worker).compactMap { $0.endpoints["pull"] }.map { Endpoint($0.description) }
    }

    var metricsEndpoint: Endpoint? {
        topology.instances(of: .monitor).first?.endpoints["metrics"].map { Endpoint($0.description) }
    }

    func ownBind(_ key: String) throws -> Endpoint {
        guard let address = instance.endpoints[key] else {
            throw NodeError(.badConfiguration, "\(topology.origin): node '\(instance.name)' has no '\(key)' endpoint")
        }
        return Endpoint(address.bindAddress.description)
    }

    // MARK: - Roles

    public func coordinator() throws -> CoordinatorNode.Configuration {
        try requireBaseModel()
        let options = instance.spec.options.coordinator ?? CoordinatorOptions()
        var policy = ThawNodes.AutoFreezePolicy()
        var registry: Endpoint?
        if case .thaw(let samples, let interval, let floor) = options.autoFreeze {
            policy = ThawNodes.AutoFreezePolicy(
                isEnabled: true, minimumMedianSamples: samples, minimumInterval: interval,
                minimumFreezePoint: FreezePoint(floor))
            // The policy decides on the registry's stored-sample counts, so the coordinator asks for them.
            registry = try endpoint(.registry, "router")
        }
        var configuration = CoordinatorNode.Configuration(
            name: instance.name, publish: try ownBind("publish"), control: try ownBind("control"),
            stateFile: "\(stateDirectory)/\(instance.name).state", initial: initialDeployment,
            machine: CoordinatorStateMachine.Configuration(
                layerCount: baseModel.architecture.layerCount, heartbeatInterval: options.heartbeatInterval,
                autoFreeze: policy),
            registry: registry, metrics: metricsEndpoint)
        configuration.curve = try curve()
        return configuration
    }

    public func registry(baseModelBytes: [UInt8]) throws -> RegistryNode.Configuration {
        try requireBaseModel()
        let options = instance.spec.options.registry ?? RegistryOptions()
        var configuration = RegistryNode.Configuration(
            name: instance.name, router: try ownBind("router"), databasePath: options.database,
            baseModels: [
                RegistryNode.BaseModelFile(version: baseModel.version, hash: baseModelHash, bytes: baseModelBytes)
            ],
            metrics: metricsEndpoint, coordinator: try? endpoint(.coordinator, "publish"), workers: workerEndpoints)
        configuration.curve = try curve()
        configuration.announce = instance.endpoints["announce"].map { Endpoint($0.bindAddress.description) }
        configuration.keepHeads = options.keepHeads
        return configuration
    }

    /// The registry's head-announcement endpoint (`announce`, a PUB publishing `HeadAnnounce` on topic
    /// `heads` after each committed head), for devices to subscribe to; nil when the topology's registry
    /// declares none.
    public var registryAnnounceEndpoint: Endpoint? {
        topology.instances(of: .registry).first?.endpoints["announce"].map { Endpoint($0.description) }
    }

    public func worker() throws -> TrainerWorkerNode.Configuration {
        var configuration = TrainerWorkerNode.Configuration(
            name: instance.name, pull: try ownBind("pull"), registry: try endpoint(.registry, "router"),
            coordinator: try endpoint(.coordinator, "publish"), metrics: metricsEndpoint, recipe: recipe)
        configuration.curve = try curve()
        configuration.registryReplicas = registryReplicaEndpoints
        return configuration
    }

    public func monitor(json: Bool) throws -> MonitorNode.Configuration {
        let options = instance.spec.options.monitor ?? MonitorOptions()
        guard let metrics = instance.endpoints["metrics"] else {
            throw NodeError(.badConfiguration, "\(topology.origin): monitor '\(instance.name)' needs a 'metrics' endpoint")
        }
        var configuration = MonitorNode.Configuration(
            name: instance.name, metrics: Endpoint(metrics.bindAddress.description),
            coordinator: try? endpoint(.coordinator, "publish"), interval: options.interval, json: json)
        configuration.curve = try curve()
        return configuration
    }

    public func device(dataset: HandwritingDataset) throws -> DeviceFleetNode.Configuration {
        let options = instance.spec.options.device ?? DeviceOptions()
        let users = try topology.deviceWriters(of: instance.spec, dataset: dataset)
        let workers = workerEndpoints
        var phone = PhoneSettings(
            flush: FlushPolicy(
                minimumBatteryPercent: options.battery.minimumLevel * 100, minimumBatch: options.flush.samples,
                maximumAge: options.flush.interval),
            initialBatteryLevel: options.battery.initialLevel)
        phone.headSwapGate = options.headSwapGate ? HeadSwapGate() : nil
        var configuration = DeviceFleetNode.Configuration(
            name: instance.name, workers: workers, registry: try endpoint(.registry, "router"),
            coordinator: try endpoint(.coordinator, "publish"), metrics: metricsEndpoint, users: users,
            annotationShare: options.annotationShare, samplesPerTick: 1, tick: .milliseconds(200),
            stateDirectory: "\(stateDirectory)/\(instance.name)", phone: phone,
            goalHeads: topology.goal.headsPerDevice ?? 1, seed: topology.seed)
        configuration.curve = try curve()
        configuration.registryReplicas = registryReplicaEndpoints
        // Head announcements (topic `heads`) from every registry that binds an `announce` endpoint.
        configuration.announce = topology.instances(of: .registry).compactMap { $0.endpoints["announce"] }
            .map { Endpoint($0.description) }
        return configuration
    }


    /// `count` users chosen deterministically from the writers with the most samples, cycling when
    /// more phones than writers are simulated.
    package static func pickUsers(_ dataset: HandwritingDataset, count: Int, seed: UInt64) -> [UInt16] {
        let byWriter = dataset.test.indicesByWriter
        let writers = byWriter.keys.sorted { (byWriter[$0]!.count, $1) > (byWriter[$1]!.count, $0) }
        guard !writers.isEmpty else { return [] }
        return (0..<count).map { writers[$0 % writers.count] }
    }
}

extension Topology {
    /// The writer numbers a device node's phones act for: its `users` list (`writer-<n>` or `<n>`), or
    /// with `users: auto` the node's `count` writers picked by ``NodeSettings/pickUsers(_:count:seed:)``.
    /// - Throws: ``NodeError`` `badConfiguration` for a user id that is not a writer number.
    public func deviceWriters(of spec: NodeSpec, dataset: HandwritingDataset) throws -> [UInt16] {
        switch (spec.options.device ?? DeviceOptions()).users {
        case .ids(let ids):
            return try ids.map { text in
                guard let id = UInt16(text.replacingOccurrences(of: "writer-", with: "")) else {
                    throw NodeError(.badConfiguration, "user id '\(text)' is not a writer number")
                }
                return id
            }
        case .auto:
            return NodeSettings.pickUsers(dataset, count: spec.count, seed: seed)
        }
    }
}
