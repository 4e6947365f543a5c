import CoreMetrics
import Logging
import ThawWire

/// Counts and logs every message a node refused, per receiving socket and per reason, for its metrics.
///
/// A peer's bad input never stops a node: the node refuses the message, records it here, and serves the
/// next one. The counts go into the node's `MetricsReport` (`refused`, `refused.<socket>`,
/// `refused.<reason>`, `refused.<socket>.<reason>`), so the monitor shows which role is being fed
/// garbage and what kind.
///
/// Logging is bounded so that a flood of garbage cannot flood the log: the first
/// ``loggedPerKey`` refusals of each (socket, reason) pair are logged at warning level, then every
/// ``logEvery``-th, each line carrying the running count. Counting is never skipped.
///
/// The counts live in the node's ``NodeMetrics`` (swift-metrics counters labelled `refused` with the
/// socket and reason as dimensions), so they reach the node's `MetricsReport` with every other metric.
///
/// Thread rule: any thread or task may call it (the metrics backend locks); it holds no socket.
public final class InputRefusals: Sendable {
    /// Refusals of one (socket, reason) pair that are each logged before sampling starts.
    public static let loggedPerKey: UInt64 = 20
    /// After that, one refusal in this many is logged.
    public static let logEvery: UInt64 = 1000

    private let metrics: NodeMetrics
    private let logger: Logger

    /// - Parameter metrics: the node's metrics; a private set when the node publishes none.
    public init(logger: Logger, metrics: NodeMetrics = NodeMetrics(node: "", role: "")) {
        self.logger = logger
        self.metrics = metrics
        Counter(label: "refused", factory: metrics).increment(by: 0)
    }

    /// Records one refused message.
    /// - Parameters:
    ///   - socket: the receiving socket's short name (`router`, `pull`, `sub`, `dealer`, `control`, `metrics`).
    ///   - reason: a stable camel-case reason (a ``WireError/Code`` name, `unexpectedKind`, `wrongShape`…).
    ///   - detail: what exactly was wrong, for the log line.
    public func refuse(on socket: String, reason: String, detail: String) {
        Counter(label: "refused", factory: metrics).increment()
        Counter(label: "refused", dimensions: [("socket", socket)], factory: metrics).increment()
        Counter(label: "refused", dimensions: [("reason", reason)], factory: metrics).increment()
        Counter(label: "refused", dimensions: [("socket", socket), ("reason", reason)], factory: metrics).increment()
        let count = metrics.counter("refused.\(socket).\(reason)")
        guard count <= Self.loggedPerKey || count % Self.logEvery == 0 else { return }
        logger.warning(
            "refused a message",
            metadata: [
                "socket": "\(socket)", "reason": "\(reason)", "refused.count": "\(count)",
                "error": "\(detail.prefix(300))",
            ])
    }

    /// Records one refused message, with the reason taken from `error`'s code.
    public func refuse(on socket: String, _ error: any Error) {
        refuse(on: socket, reason: Self.reason(of: error), detail: "\(error)")
    }

    /// How many messages were refused in all.
    public var total: UInt64 { metrics.counter("refused") }

    /// The counters for a `MetricsReport`: `refused` (always present), `refused.<socket>`,
    /// `refused.<reason>` and `refused.<socket>.<reason>`.
    public var counters: [String: UInt64] { metrics.counters(prefix: "refused") }

    /// A stable reason name for a refusal caused by `error`.
    static func reason(of error: any Error) -> String {
        switch error {
        case let wire as WireError: "\(wire.code)"
        case let violation as InputViolation: violation.reason.rawValue
        case let node as NodeError: "\(node.code.name)"
        default: "other"
        }
    }
}

/// A decoded message that is well-formed on the wire but makes no sense to this node: a tensor whose
/// shape does not fit the model, a label beyond the classes, a message kind this socket never takes,
/// a reply nobody asked for. Thrown at the edge, counted by ``InputRefusals``, never a crash.
public struct InputViolation: Error, Sendable, CustomStringConvertible {
    public struct Reason: RawRepresentable, Hashable, Sendable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The ROUTER delivery has no routing id or no message after it.
        public static let frameLayout = Reason(rawValue: "frameLayout")
        /// A message kind this socket does not take (e.g. a heartbeat sent to the registry).
        public static let unexpectedKind = Reason(rawValue: "unexpectedKind")
        /// A tensor's shape does not match what the model produces or expects at that freeze point.
        public static let wrongShape = Reason(rawValue: "wrongShape")
        /// A label outside the model's classes.
        public static let labelOutOfRange = Reason(rawValue: "labelOutOfRange")
        /// A freeze point outside `1..<layerCount` of the model.
        public static let freezePointOutOfRange = Reason(rawValue: "freezePointOutOfRange")
        /// A head whose parameters do not hash to the SHA-256 content hash it claims.
        public static let hashMismatch = Reason(rawValue: "hashMismatch")
        /// A model version this node does not have.
        public static let unknownModel = Reason(rawValue: "unknownModel")
        /// A reply that answers no outstanding request (late, duplicated, or never asked for).
        public static let unsolicitedReply = Reason(rawValue: "unsolicitedReply")
        /// The store refused the request's values (see ``RegistryError``).
        public static let rejectedByStore = Reason(rawValue: "rejectedByStore")
        /// The authenticated (CURVE) peer may not send this (docs/SECURITY.md).
        public static let forbidden = Reason(rawValue: "forbidden")
        /// An operator command the coordinator refused (see ``CoordinatorError``).
        public static let rejectedCommand = Reason(rawValue: "rejectedCommand")
        /// A head delta that cannot be applied: against another head than the one in use, corrupt, or
        /// of the wrong length (``HeadDelta``). The phone asks for the full head instead.
        public static let badHeadDelta = Reason(rawValue: "badHeadDelta")
    }

    public let reason: Reason
    public let detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(reason.rawValue): \(detail)" }
}
