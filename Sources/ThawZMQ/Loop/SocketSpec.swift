/// A Sendable description of a socket that a ``SocketLoop`` creates on its own thread.
public struct SocketSpec: Sendable, Hashable {
    /// The pattern.
    public var kind: SocketKind
    /// Endpoints to bind (a wildcard `tcp://127.0.0.1:*` is resolved and reported back).
    public var bind: [Endpoint]
    /// Endpoints to connect to.
    public var connect: [Endpoint]
    /// Options applied in order before any bind or connect (high-water marks, linger, CURVE keys,
    /// subscriptions, routing id, ...). Without a `.linger`, the loop closes the socket with linger 0.
    public var options: [SocketOption]

    public init(kind: SocketKind, bind: [Endpoint] = [], connect: [Endpoint] = [], options: [SocketOption] = []) {
        self.kind = kind
        self.bind = bind
        self.connect = connect
        self.options = options
    }
}

/// A token for one socket of a ``SocketLoop``: the index of its ``SocketSpec``.
public struct SocketID: Hashable, Sendable, CustomStringConvertible {
    /// The index in the `sockets` array given to ``withSocketLoop(context:sockets:queueCapacity:_:)``.
    public let index: Int

    public var description: String { "socket#\(index)" }
}

/// One inbound message and the socket it arrived on.
public struct Delivery: Sendable, Hashable {
    /// The receiving socket.
    public let socket: SocketID
    /// The message parts (a ROUTER's first frame is the sender's routing id).
    public let frames: [Frame]
}
