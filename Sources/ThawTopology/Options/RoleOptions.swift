/// The `options:` block of a node, one case per role so a worker cannot carry battery settings.
public enum RoleOptions: Hashable, Sendable {
    case coordinator(CoordinatorOptions)
    case registry(RegistryOptions)
    case worker(WorkerOptions)
    case device(DeviceOptions)
    case monitor(MonitorOptions)
    case fedavg(FedAvgOptions)

    /// Every field at its default, for a node that writes no `options:`.
    public static func defaults(for role: Role) -> RoleOptions {
        switch role {
        case .coordinator: .coordinator(CoordinatorOptions())
        case .registry: .registry(RegistryOptions())
        case .worker: .worker(WorkerOptions())
        case .device: .device(DeviceOptions())
        case .monitor: .monitor(MonitorOptions())
        case .fedavg: .fedavg(FedAvgOptions())
        }
    }

    public var coordinator: CoordinatorOptions? { if case .coordinator(let o) = self { o } else { nil } }
    public var registry: RegistryOptions? { if case .registry(let o) = self { o } else { nil } }
    public var worker: WorkerOptions? { if case .worker(let o) = self { o } else { nil } }
    public var device: DeviceOptions? { if case .device(let o) = self { o } else { nil } }
    public var monitor: MonitorOptions? { if case .monitor(let o) = self { o } else { nil } }
    public var fedavg: FedAvgOptions? { if case .fedavg(let o) = self { o } else { nil } }
}
