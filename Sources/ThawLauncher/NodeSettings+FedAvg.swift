import ThawData
import ThawDeviceProfile
import ThawNN
import ThawNodes
import ThawTopology
import ThawZMQ

extension NodeSettings {
    /// The topology's FedAvg server a device node names in its `peers`, if any: such a device runs as FedAvg
    /// clients (``FedAvgFleetNode``) instead of a Thaw fleet.
    public var fedAvgServerPeer: NodeInstance? {
        guard instance.role == .device else { return nil }
        return topology.instances(of: .fedavg).first { instance.spec.peers.contains($0.name) }
    }

    public func fedAvgServer() throws -> FedAvgServerNode.Configuration {
        try requireBaseModel()
        let options = instance.spec.options.fedavg ?? FedAvgOptions()
        let settings = FedAvgSettings(
            clientFraction: options.clientFraction, localEpochs: options.localEpochs, batchSize: options.batchSize,
            learningRate: Float(options.learningRate), rounds: options.rounds, roundDeadline: options.roundDeadline,
            seed: topology.seed, reportFraction: options.reportFraction)
        if let problem = settings.problem { throw NodeError(.badConfiguration, "\(topology.origin): \(problem)") }
        let phones = topology.nodes.filter { node in
            node.role == .device && node.peers.contains(instance.name)
        }.reduce(0) { $0 + $1.count }
        var configuration = FedAvgServerNode.Configuration(
            name: instance.name, router: try ownBind("router"), settings: settings,
            freezePoint: FreezePoint(options.freezePoint),
            minClients: max(1, options.minClients > 0 ? options.minClients : phones),
            splitSeed: topology.seed)
        configuration.curve = try curve()
        return configuration
    }

    public func fedAvgFleet(dataset: HandwritingDataset) throws -> FedAvgFleetNode.Configuration {
        try requireBaseModel()
        guard let server = fedAvgServerPeer, let router = server.endpoints["router"] else {
            throw NodeError(
                .badConfiguration, "\(topology.origin): device '\(instance.name)' names no fedavg server in its peers")
        }
        let options = instance.spec.options.device ?? DeviceOptions()
        var configuration = FedAvgFleetNode.Configuration(
            name: instance.name, server: Endpoint(router.description),
            users: try topology.deviceWriters(of: instance.spec, dataset: dataset),
            annotationShare: options.annotationShare, profile: .phoneOnLTE, seed: topology.seed)
        configuration.curve = try curve()
        return configuration
    }
}
