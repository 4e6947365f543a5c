/// Why a worker refused a device's batch. The device keeps the batch and decides from the reason (and
/// the worker's deployment sent with it) whether to re-stamp it, wait, or drop it.
public enum RejectReason: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// Stamped with an older base model than the worker's: the activations cannot be used.
    case staleModel
    /// Same model, another freeze point than the worker's.
    case staleFreezePoint
    /// Same model and freeze point, other head hyper-parameters.
    case staleHyper
    /// Stamped with a *newer* model than the worker has seen: the worker missed a broadcast; retry.
    case workerBehind
    /// The worker has not observed any deployment yet; retry.
    case noDeployment
    /// Malformed values (shape, NaN, empty, repeated sample ids): resending will not help.
    case invalid
    /// The registry did not confirm the write (timeout, error); nothing is known to be durable; retry.
    case registryFailed

    /// Whether the same batch may succeed if resent unchanged later.
    public var isRetriable: Bool {
        switch self {
        case .workerBehind, .noDeployment, .registryFailed: true
        case .staleModel, .staleFreezePoint, .staleHyper, .invalid: false
        }
    }

    public var description: String { rawValue }
}
