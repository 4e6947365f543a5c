/// One entry of a topology's `nodes` list, as written (before `count` expands workers into instances).
public struct NodeSpec: Hashable, Sendable {
    /// Kebab-case name, unique in the topology; `thaw <role> --node <name>` selects it.
    public var name: String
    /// What the node does.
    public var role: Role
    /// The machine the node runs on (a DNS name); nil means "wherever `thaw up` runs".
    public var host: String?
    /// Workers: how many processes; devices: how many simulated devices in the one process; else 1.
    public var count: Int
    /// The endpoints this node binds, by name (`publish`, `control`, `router`, `pull`, `status`).
    public var endpoints: [String: EndpointAddress]
    /// The nodes this node connects to, by name. Defaults to every node of ``Role/defaultPeerRoles``.
    public var peers: [String]
    /// Role-specific settings, with defaults for every field left out.
    public var options: RoleOptions

    public init(
        name: String,
        role: Role,
        host: String? = nil,
        count: Int = 1,
        endpoints: [String: EndpointAddress] = [:],
        peers: [String] = [],
        options: RoleOptions? = nil
    ) {
        self.name = name
        self.role = role
        self.host = host
        self.count = count
        self.endpoints = endpoints
        self.peers = peers
        self.options = options ?? RoleOptions.defaults(for: role)
    }
}

/// One process of a deployment: a node, or one of a worker node's `count` processes.
public struct NodeInstance: Hashable, Sendable {
    /// The process's node name: the spec's name, or `<name>-<index>` when a worker has `count > 1`.
    public let name: String
    /// The spec this instance comes from.
    public let spec: NodeSpec
    /// 0-based index among the spec's processes.
    public let index: Int
    /// The endpoints this process binds (tcp ports shifted by `index`; see ``EndpointAddress/forInstance(_:)``).
    public let endpoints: [String: EndpointAddress]

    public var role: Role { spec.role }
}

extension NodeSpec {
    /// The processes this spec runs as: one, or `count` for workers.
    public var instances: [NodeInstance] {
        guard role.countIsProcesses, count > 1 else {
            return [NodeInstance(name: name, spec: self, index: 0, endpoints: endpoints)]
        }
        return (0..<count).map { index in
            NodeInstance(
                name: "\(name)-\(index)",
                spec: self,
                index: index,
                endpoints: endpoints.mapValues { $0.forInstance(index) }
            )
        }
    }
}
