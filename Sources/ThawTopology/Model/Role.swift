/// What a node does in a deployment; each role is one `thaw <role>` process kind.
public enum Role: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Owns the model version and freeze point; broadcasts changes on PUB and answers control requests.
    case coordinator
    /// Stores trained heads (SQLite) behind a ROUTER; devices pull heads from it.
    case registry
    /// Trains users' heads from flushed activations; binds a PULL that devices PUSH to.
    case worker
    /// Simulates `count` phones in one process; binds nothing, connects to everyone it needs.
    case device
    /// Watches the deployment (subscribes to the coordinator, polls the registry) and reports.
    case monitor
    /// Runs Federated Averaging rounds (the baseline of docs/FEDAVG.md); binds a ROUTER its clients connect to.
    case fedavg

    public var description: String { rawValue }

    /// Endpoint names the role must declare; every one is bound by the node.
    public var requiredEndpoints: [String] {
        switch self {
        case .coordinator: ["publish", "control"]
        case .registry, .fedavg: ["router"]
        case .worker: ["pull"]
        case .device, .monitor: []
        }
    }

    /// Endpoint names the role may declare besides the required ones.
    public var optionalEndpoints: [String] {
        switch self {
        case .monitor: ["metrics", "watch"]
        // The registry's PUB of committed heads (topic `heads`); devices subscribe to it when present.
        case .registry: ["announce"]
        case .coordinator, .worker, .device, .fedavg: []
        }
    }

    /// The allowed range of `count`: worker processes, simulated devices per device process; others run once.
    public var countRange: ClosedRange<Int> {
        switch self {
        case .worker: 1...64
        case .device: 1...100_000
        case .coordinator, .registry, .monitor, .fedavg: 1...1
        }
    }

    /// Whether `count` expands into that many separate processes (workers) rather than meaning
    /// something inside one process (simulated devices).
    public var countIsProcesses: Bool { self == .worker }

    /// The roles a node of this role talks to when its `peers` list is omitted.
    public var defaultPeerRoles: [Role] {
        switch self {
        case .coordinator, .fedavg: []
        case .registry: [.coordinator]
        case .worker: [.coordinator, .registry]
        case .device: [.coordinator, .registry, .worker]
        case .monitor: [.coordinator, .registry]
        }
    }

    /// Roles a node may list in `peers` besides ``defaultPeerRoles`` (a device naming a fedavg server
    /// runs as a FedAvg client).
    public var optionalPeerRoles: [Role] { self == .device ? [.fedavg] : [] }
}
