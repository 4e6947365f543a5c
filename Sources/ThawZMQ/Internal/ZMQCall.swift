import CLibZMQ

#if canImport(Glibc)
import Glibc
#endif

/// The one funnel for libzmq calls: the only place that reads `zmq_errno()` or compares errno values.
///
/// Modelled on NIO's `syscall` helpers: read the errno at once, retry EINTR, return would-block as
/// data only when the caller asked for it, trap on errnos that can only mean a bug in this module
/// (EFAULT: a bad pointer; ENOTSOCK: a closed or foreign socket handle), throw ``ZMQError`` otherwise.
enum ZMQCall {
    /// The outcome of a call whose caller accepts would-block (or a timeout) as a normal result.
    enum Outcome: Equatable {
        case completed(Int32)
        case wouldBlock
    }

    /// Runs a call that returns -1 on failure; EAGAIN throws ``ZMQError/Code/wouldBlock``.
    @inline(__always)
    static func run(_ operation: @autoclosure () -> String, _ body: () -> Int32) throws(ZMQError) -> Int32 {
        switch try runAllowingWouldBlock(operation(), body) {
        case .completed(let value): return value
        case .wouldBlock: throw makeError(errno: EAGAIN, operation: operation())
        }
    }

    /// Runs a call that returns -1 on failure; EAGAIN (would-block or a send/receive timeout) is data.
    @inline(__always)
    static func runAllowingWouldBlock(
        _ operation: @autoclosure () -> String,
        _ body: () -> Int32
    ) throws(ZMQError) -> Outcome {
        while true {
            let result = body()
            if result != -1 { return .completed(result) }
            let error = zmq_errno()
            switch error {
            case EINTR: continue
            case EAGAIN: return .wouldBlock
            default: throw makeError(errno: error, operation: operation())
            }
        }
    }

    /// Runs a call that returns a pointer, `nil` on failure (zmq_ctx_new, zmq_socket).
    static func pointer(
        _ operation: @autoclosure () -> String,
        _ body: () -> UnsafeMutableRawPointer?
    ) throws(ZMQError) -> UnsafeMutableRawPointer {
        while true {
            if let pointer = body() { return pointer }
            let error = zmq_errno()
            if error == EINTR { continue }
            throw makeError(errno: error, operation: operation())
        }
    }

    /// Classifies an errno; traps on the errnos that can only be a bug in ThawZMQ.
    static func makeError(errno error: Int32, operation: String) -> ZMQError {
        precondition(error != EFAULT && error != ENOTSOCK, "ThawZMQ bug: \(operation) failed with errno \(error)")
        let isEndpointCall = operation.hasPrefix("zmq_bind") || operation.hasPrefix("zmq_connect")
        let endpointErrors: Set<Int32> = [EINVAL, EPROTONOSUPPORT, ENODEV, EADDRNOTAVAIL, ENOCOMPATPROTO]
        if isEndpointCall && endpointErrors.contains(error) {
            return ZMQError(code: .invalidEndpoint, errno: error, operation: operation)
        }
        let code: ZMQError.Code
        switch error {
        case EAGAIN: code = .wouldBlock
        case ETERM: code = .contextTerminated
        case EADDRINUSE: code = .addressInUse
        case EHOSTUNREACH: code = .hostUnreachable
        case EMFILE: code = .tooManySockets
        case EFSM: code = .invalidState
        case ENOENT: code = .endpointNotFound
        case EMSGSIZE: code = .messageTooLarge
        case EINVAL: code = .invalidArgument
        case ENOTSUP, EPROTONOSUPPORT, ENOCOMPATPROTO: code = .notSupported
        default: code = .other
        }
        return ZMQError(code: code, errno: error, operation: operation)
    }
}
