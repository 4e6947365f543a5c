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
    /// Options applied just before connecting to one endpoint, after ``options``. libzmq copies a
    /// socket's options into each connection when it is made, so this is how one socket trusts a
    /// different CURVE server key per peer (``SocketOption/curveServerKey(_:)``), or connects to one
    /// peer with CURVE and to another in the clear (``SocketOption/curveServer(_:)`` `false`).
    public var connectOptions: [Endpoint: [SocketOption]]

    public init(
        kind: SocketKind, bind: [Endpoint] = [], connect: [Endpoint] = [], options: [SocketOption] = [],
        connectOptions: [Endpoint: [SocketOption]] = [:]
    ) {
        self.kind = kind
        self.bind = bind
        self.connect = connect
        self.options = options
        self.connectOptions = connectOptions
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
    /// What libzmq knows about the sender's connection: on a CURVE server socket, the User-Id the
    /// ZAP handler returned for the peer's key. Set by libzmq, so a peer cannot forge it.
    public let metadata: MessageMetadata

    /// The ZAP User-Id of the connection the message came in on, `nil` without authentication.
    public var userID: String? { metadata.userID }

    public init(socket: SocketID, frames: [Frame], metadata: MessageMetadata = MessageMetadata()) {
        self.socket = socket
        self.frames = frames
        self.metadata = metadata
    }
}

/// Properties libzmq attaches to a received message (`zmq_msg_gets`).
public struct MessageMetadata: Sendable, Hashable {
    /// `User-Id`: what the ZAP handler returned for the peer (see ``ZAPReply/userID``); `nil` when
    /// the connection was not authenticated (NULL mechanism, or no ZAP handler).
    public var userID: String?
    /// `Peer-Address`: the peer's IP address on tcp, for logs; `nil` on ipc and inproc.
    public var peerAddress: String?

    public init(userID: String? = nil, peerAddress: String? = nil) {
        self.userID = userID
        self.peerAddress = peerAddress
    }
}
