/// A whole Thaw deployment: global settings plus the nodes, validated.
///
/// Obtain one with ``load(path:)`` or ``parse(yaml:origin:)``; both validate, so code that holds a
/// `Topology` may trust it (names unique, endpoints well-formed and distinct, peers resolvable).
/// Overrides (``rewritingEndpoints(_:)``, ``overridingWorkerCount(_:)``) validate again.
public struct Topology: Hashable, Sendable {
    /// The file name or label the topology came from, used in diagnostics.
    public var origin: String
    /// An optional label for the scenario (`name:`).
    public var name: String? = nil
    /// Seed for every random choice of the run (user selection, initialisation, annotation).
    public var seed: UInt64 = 42
    /// `data: default | DIR`.
    public var data: DataSource = .default
    /// `model:` pretraining settings.
    public var model = ModelSettings()
    /// `goal:` when the run ends.
    public var goal = Goal()
    /// `security:` CURVE on tcp endpoints, key folder, allowlist.
    public var security = SecuritySettings()
    /// The nodes, in file order.
    public var nodes: [NodeSpec]

    /// A topology from values; call ``validated()`` before handing it to nodes.
    public init(origin: String, nodes: [NodeSpec]) {
        self.origin = origin
        self.nodes = nodes
    }

    /// The node spec with this name, if any.
    public func node(named name: String) -> NodeSpec? { nodes.first { $0.name == name } }

    /// Every process of the deployment, in file order, workers expanded by `count`.
    public var instances: [NodeInstance] { nodes.flatMap(\.instances) }

    /// The process with this node name (`worker-1`, or a spec name).
    public func instance(named name: String) -> NodeInstance? { instances.first { $0.name == name } }

    /// The processes of one role.
    public func instances(of role: Role) -> [NodeInstance] { instances.filter { $0.role == role } }

    /// The processes a node connects to: its `peers`, or every node of its role's default peer roles,
    /// worker specs expanded into their processes.
    public func peerInstances(of spec: NodeSpec) -> [NodeInstance] {
        let names = spec.peers.isEmpty ? nodes.filter { spec.role.defaultPeerRoles.contains($0.role) }.map(\.name) : spec.peers
        return names.compactMap(node(named:)).flatMap(\.instances)
    }
}
