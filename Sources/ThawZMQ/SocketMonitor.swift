import CLibZMQ
import Synchronization

/// A transport event reported by a ``SocketMonitor``, for diagnostics.
public struct SocketEvent: Sendable, Hashable, CustomStringConvertible {
    /// What happened.
    public struct Kind: Sendable, Hashable, CustomStringConvertible {
        let raw: UInt16
        public static let connected = Kind(raw: UInt16(ZMQ_EVENT_CONNECTED))
        public static let connectDelayed = Kind(raw: UInt16(ZMQ_EVENT_CONNECT_DELAYED))
        public static let connectRetried = Kind(raw: UInt16(ZMQ_EVENT_CONNECT_RETRIED))
        public static let listening = Kind(raw: UInt16(ZMQ_EVENT_LISTENING))
        public static let bindFailed = Kind(raw: UInt16(ZMQ_EVENT_BIND_FAILED))
        public static let accepted = Kind(raw: UInt16(ZMQ_EVENT_ACCEPTED))
        public static let acceptFailed = Kind(raw: UInt16(ZMQ_EVENT_ACCEPT_FAILED))
        public static let closed = Kind(raw: UInt16(ZMQ_EVENT_CLOSED))
        public static let closeFailed = Kind(raw: UInt16(ZMQ_EVENT_CLOSE_FAILED))
        public static let disconnected = Kind(raw: UInt16(ZMQ_EVENT_DISCONNECTED))
        public static let monitorStopped = Kind(raw: UInt16(ZMQ_EVENT_MONITOR_STOPPED))
        public static let handshakeFailedNoDetail = Kind(raw: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL))
        public static let handshakeSucceeded = Kind(raw: UInt16(ZMQ_EVENT_HANDSHAKE_SUCCEEDED))
        public static let handshakeFailedProtocol = Kind(raw: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL))
        public static let handshakeFailedAuth = Kind(raw: UInt16(ZMQ_EVENT_HANDSHAKE_FAILED_AUTH))

        /// Any of the three handshake-failure events.
        public var isHandshakeFailure: Bool {
            self == .handshakeFailedNoDetail || self == .handshakeFailedProtocol || self == .handshakeFailedAuth
        }

        public var description: String {
            let names: [UInt16: String] = [
                0x0001: "connected", 0x0002: "connectDelayed", 0x0004: "connectRetried", 0x0008: "listening",
                0x0010: "bindFailed", 0x0020: "accepted", 0x0040: "acceptFailed", 0x0080: "closed",
                0x0100: "closeFailed", 0x0200: "disconnected", 0x0400: "monitorStopped",
                0x0800: "handshakeFailedNoDetail", 0x1000: "handshakeSucceeded",
                0x2000: "handshakeFailedProtocol", 0x4000: "handshakeFailedAuth",
            ]
            return names[raw] ?? "event(0x\(String(raw, radix: 16)))"
        }
    }

    /// The event.
    public let kind: Kind
    /// The event's value: an fd, an errno, a reconnect interval or a protocol/ZAP code.
    public let value: UInt32
    /// The endpoint it concerns.
    public let endpoint: String

    public var description: String { "\(kind) \(endpoint) (\(value))" }
}

/// Reads a socket's transport events (`zmq_socket_monitor` over an `inproc://` PAIR).
///
/// - Thread rule: same as ``ZMQSocket``; create and read it on the monitored socket's thread.
/// - Ownership: ``close()`` it before closing the monitored socket's context (it holds a PAIR socket).
public final class SocketMonitor {
    private static let counter = Atomic<Int>(0)
    private let pair: ZMQSocket

    /// Starts monitoring every event of `socket`.
    /// - Throws: ``ZMQError`` from `zmq_socket_monitor` or the PAIR socket.
    public init(_ socket: ZMQSocket) throws(ZMQError) {
        let number = Self.counter.add(1, ordering: .relaxed).newValue
        let address = "inproc://thaw-monitor-\(number)"
        try socket.withHandle { (handle) throws(ZMQError) in
            _ = try ZMQCall.run("zmq_socket_monitor(\(address))") {
                zmq_socket_monitor(handle, address, ZMQ_EVENT_ALL)
            }
        }
        pair = try ZMQSocket(context: socket.context, kind: .pair)
        do throws(ZMQError) {
            try pair.connect(Endpoint(address))
        } catch {
            pair.close()
            throw error
        }
    }

    /// The next event, or `nil` if none arrives within `timeout`.
    /// - Throws: ``ZMQError``.
    public func next(timeout: Duration) throws(ZMQError) -> SocketEvent? {
        try pair.set(.receiveTimeout(timeout))
        guard let frames = try pair.receive(), frames.count == 2, frames[0].count == 6 else { return nil }
        let header = frames[0].bytes
        let kind = UInt16(header[0]) | UInt16(header[1]) << 8
        let value = UInt32(header[2]) | UInt32(header[3]) << 8 | UInt32(header[4]) << 16 | UInt32(header[5]) << 24
        return SocketEvent(kind: .init(raw: kind), value: value, endpoint: frames[1].string ?? "")
    }

    /// Waits until an event satisfying `predicate` arrives, skipping others.
    /// - Returns: the event, or `nil` if none matched before `timeout`.
    public func waitFor(
        timeout: Duration,
        where predicate: (SocketEvent) -> Bool
    ) throws(ZMQError) -> SocketEvent? {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while clock.now < deadline {
            guard let event = try next(timeout: deadline - clock.now) else { return nil }
            if predicate(event) { return event }
        }
        return nil
    }

    /// Closes the PAIR socket; idempotent.
    public func close() {
        pair.close()
    }
}

@available(*, unavailable, message: "SocketMonitor owns a socket, which is bound to one thread")
extension SocketMonitor: Sendable {}
