import CLibZMQ

/// The ZeroMQ socket patterns Thaw uses, with Swift names instead of `ZMQ_*` constants.
public enum SocketKind: String, Sendable, Hashable, CaseIterable {
    case push, pull, pub, sub, xpub, xsub, router, dealer, req, rep
    /// Exclusive pair; used internally for socket monitors over `inproc://`.
    case pair

    var rawType: Int32 {
        switch self {
        case .push: ZMQ_PUSH
        case .pull: ZMQ_PULL
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .xpub: ZMQ_XPUB
        case .xsub: ZMQ_XSUB
        case .router: ZMQ_ROUTER
        case .dealer: ZMQ_DEALER
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        case .pair: ZMQ_PAIR
        }
    }

    /// Whether the pattern can receive messages (a loop polls only these for input).
    public var canReceive: Bool {
        switch self {
        case .push, .pub: false
        default: true
        }
    }
}
