/// The PUB/SUB topic frames Thaw publishes under.
///
/// ZeroMQ SUB sockets filter on a byte prefix of the *first* frame, so a published message starts with
/// its topic frame and the envelope comes second. No topic is a prefix of another, so subscribing to
/// one never delivers another.
public enum Topic: String, Sendable, Hashable, CaseIterable {
    /// ``ModelAnnounce``.
    case model
    /// ``FreezePointChange``.
    case freeze
    /// ``Invalidation``.
    case invalidate
    /// ``Heartbeat``.
    case heartbeat
    /// ``MetricsReport``.
    case metrics
    /// ``HeadAnnounce`` (the registry's PUB).
    case heads

    /// The topic frame, as given to `zmq_setsockopt(ZMQ_SUBSCRIBE)` and sent first.
    public var frame: [UInt8] { Array(rawValue.utf8) }

    /// The topic for a topic frame, or `nil` when the frame is not a Thaw topic.
    public init?(frame: [UInt8]) {
        guard frame.count <= 16, let text = String(validating: frame, as: UTF8.self) else { return nil }
        self.init(rawValue: text)
    }

    /// The topic `kind` is published under, or `nil` for kinds that are not published.
    public init?(publishing kind: ThawMessage.Kind) {
        switch kind {
        case .modelAnnounce: self = .model
        case .freezePointChange: self = .freeze
        case .invalidation: self = .invalidate
        case .heartbeat: self = .heartbeat
        case .metrics: self = .metrics
        case .headAnnounce: self = .heads
        default: return nil
        }
    }
}
