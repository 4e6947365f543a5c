import CLibZMQ

/// An error reported by libzmq, with the raw `errno` and the operation that failed.
///
/// Modelled on swift-subprocess's error struct: an opaque, extensible ``Code`` so new cases can be
/// added without breaking callers, the raw cause, and the context (the operation). Only
/// `Internal/ZMQCall.swift` builds values from `zmq_errno()`; other code only throws what it gets.
public struct ZMQError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A stable classification of libzmq failures. Compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        enum Storage: Hashable, Sendable {
            case wouldBlock, contextTerminated, addressInUse, hostUnreachable, invalidEndpoint
            case tooManySockets, invalidState, invalidArgument, endpointNotFound, notSupported
            case messageTooLarge, loopStopped, other
        }

        let storage: Storage

        /// EAGAIN where the caller did not ask for a non-blocking outcome.
        public static let wouldBlock = Code(storage: .wouldBlock)
        /// ETERM: the context was terminated while the operation ran.
        public static let contextTerminated = Code(storage: .contextTerminated)
        /// EADDRINUSE: a bind to an address already bound.
        public static let addressInUse = Code(storage: .addressInUse)
        /// EHOSTUNREACH: e.g. a ROUTER with `routerMandatory` sending to an unknown peer.
        public static let hostUnreachable = Code(storage: .hostUnreachable)
        /// A malformed endpoint, an unknown transport or an unresolvable address in bind/connect.
        public static let invalidEndpoint = Code(storage: .invalidEndpoint)
        /// EMFILE: the context's socket limit or the process's fd limit was reached.
        public static let tooManySockets = Code(storage: .tooManySockets)
        /// EFSM: the socket's pattern forbids the call now (REQ sending twice).
        public static let invalidState = Code(storage: .invalidState)
        /// EINVAL outside bind/connect: an option or value libzmq refused.
        public static let invalidArgument = Code(storage: .invalidArgument)
        /// ENOENT on unbind/disconnect: the endpoint was never bound or connected.
        public static let endpointNotFound = Code(storage: .endpointNotFound)
        /// ENOTSUP/EPROTONOSUPPORT outside endpoints, ENOCOMPATPROTO: not supported by this socket or build.
        public static let notSupported = Code(storage: .notSupported)
        /// EMSGSIZE: a message larger than the transport accepts.
        public static let messageTooLarge = Code(storage: .messageTooLarge)
        /// A ``SocketLoop`` that has stopped (its body returned or a fatal error ended it) was asked to send.
        public static let loopStopped = Code(storage: .loopStopped)
        /// Any other errno; inspect ``ZMQError/errno``.
        public static let other = Code(storage: .other)

        public var description: String { "\(storage)" }
    }

    /// The classification.
    public let code: Code
    /// The raw `zmq_errno()` value captured right after the failing call.
    public let errno: Int32
    /// The libzmq operation that failed, e.g. `"zmq_bind(tcp://127.0.0.1:5555)"`.
    public let operation: String

    /// Creates an error; normally only the call funnel does this.
    public init(code: Code, errno: Int32, operation: String) {
        self.code = code
        self.errno = errno
        self.operation = operation
    }

    /// `operation: message (code, errno N)` with libzmq's own message text.
    public var description: String {
        let message = zmq_strerror(errno).map { String(cString: $0) } ?? "unknown error"
        return "\(operation): \(message) (\(code), errno \(errno))"
    }
}
