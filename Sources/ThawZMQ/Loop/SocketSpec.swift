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
    /// What the loop does with a message for this socket when the socket would block (high-water mark
    /// reached, or no peer): wait, stalling the outbound queue behind it (the default), or drop it.
    public var whenBlocked: BlockedSendPolicy
    /// At most this many deliveries from this socket may be handed out and not yet released with
    /// ``SocketLoop/release(_:)``; at the limit the loop stops reading the socket, so its receive
    /// high-water mark fills and back-pressure reaches the senders. `nil`: no limit (the consumer must
    /// keep up).
    public var inboundLimit: Int?

    public init(
        kind: SocketKind, bind: [Endpoint] = [], connect: [Endpoint] = [], options: [SocketOption] = [],
        connectOptions: [Endpoint: [SocketOption]] = [:], whenBlocked: BlockedSendPolicy = .wait,
        inboundLimit: Int? = nil
    ) {
        precondition(inboundLimit.map { $0 > 0 } ?? true, "an inbound limit must be positive")
        self.kind = kind
        self.bind = bind
        self.connect = connect
        self.options = options
        self.connectOptions = connectOptions
        self.whenBlocked = whenBlocked
        self.inboundLimit = inboundLimit
    }
}

/// What a ``SocketLoop`` does with an outbound message whose socket would block.
public enum BlockedSendPolicy: Sendable, Hashable {
    /// Keep it at the head of the queue until the socket is writable; everything behind it waits.
    case wait
    /// Drop it and count it in ``SocketLoop/droppedMessages``: for senders that re-send on their own
    /// (an outbox with retries), so a stalled peer never blocks their other sockets.
    case drop
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
