import CLibZMQ

/// Whether a send or receive may wait for the peer.
public enum TransferMode: Sendable, Hashable {
    /// Block until done, or until the socket's send/receive timeout passes.
    case wait
    /// Return at once (`ZMQ_DONTWAIT`).
    case dontWait

    var flags: Int32 { self == .dontWait ? ZMQ_DONTWAIT : 0 }
}

/// What a send returned: a would-block (queue full, no peer, or send timeout) is data, not an error.
public enum SendOutcome: Sendable, Hashable {
    case sent
    case wouldBlock
}

/// A libzmq socket.
///
/// - Thread rule: libzmq sockets are **not** thread-safe. A `ZMQSocket` is created, used and closed on
///   one thread; its `Sendable` conformance is unavailable, so the compiler rejects sharing it between
///   tasks. Outside tests, sockets live inside a ``SocketLoop`` thread. Using a socket from two threads
///   corrupts libzmq's state (it asserts or crashes), which is why the type makes it hard.
/// - Ownership: the creator closes it with ``close()`` (idempotent; linger 0 unless ``SocketOption/linger(_:)``
///   was set). Using a closed socket is a programmer error and traps. A socket dropped while open is
///   closed by `deinit`, which asserts in debug builds: it is a leak that would have blocked
///   `zmq_ctx_term` had the object lived on.
public final class ZMQSocket {
    /// The socket's pattern.
    public let kind: SocketKind
    /// The context that owns the socket; kept alive as long as the socket.
    public let context: ZMQContext

    private var handle: UnsafeMutableRawPointer?
    var lingerConfigured = false
    /// `zmq_msg_more` of the last received frame.
    var lastFrameHadMore = false
    /// A reusable message at a fixed heap address (libzmq forbids moving an initialised zmq_msg_t).
    @usableFromInline let scratch: UnsafeMutablePointer<zmq_msg_t>
    /// The send-side twin of `scratch`: a message-backed frame is copied into it by reference count
    /// (`zmq_msg_copy`) and sent from it, so a send allocates nothing on the Swift side.
    let sendScratch: UnsafeMutablePointer<zmq_msg_t>

    /// Creates a socket of `kind` in `context`.
    /// - Throws: ``ZMQError`` (`tooManySockets`, `contextTerminated`).
    public init(context: ZMQContext, kind: SocketKind) throws(ZMQError) {
        self.kind = kind
        self.context = context
        self.handle = try ZMQCall.pointer("zmq_socket(\(kind))") { zmq_socket(context.handle, kind.rawType) }
        scratch = .allocate(capacity: 1)
        zmq_msg_init(scratch)
        sendScratch = .allocate(capacity: 1)
        zmq_msg_init(sendScratch)
    }

    deinit {
        if handle != nil {
            assert(false, "ZMQSocket(\(kind)) deallocated while open: close() it on its owning thread")
            close()
        }
        zmq_msg_close(scratch)
        scratch.deallocate()
        zmq_msg_close(sendScratch)
        sendScratch.deallocate()
    }

    /// Whether ``close()`` has run.
    public var isClosed: Bool { handle == nil }

    /// Closes the socket; a second call does nothing. Sets linger to 0 first unless it was configured,
    /// so unsent messages are dropped rather than blocking context termination.
    public func close() {
        guard let handle else { return }
        if !lingerConfigured {
            var zero: Int32 = 0
            _ = zmq_setsockopt(handle, ZMQ_LINGER, &zero, MemoryLayout<Int32>.size)
        }
        // zmq_close only fails with ENOTSOCK, which `handle != nil` rules out.
        _ = zmq_close(handle)
        self.handle = nil
    }

    /// Calls `body` with the raw handle. Traps if the socket is closed (a programmer error).
    func withHandle<R, E: Error>(_ body: (UnsafeMutableRawPointer) throws(E) -> R) throws(E) -> R {
        guard let handle else { preconditionFailure("ZMQSocket(\(kind)) used after close()") }
        return try body(handle)
    }

    /// Binds to `endpoint`; read a wildcard port back with ``lastEndpoint``.
    /// - Throws: ``ZMQError`` (`addressInUse`, `invalidEndpoint`, ...).
    public func bind(_ endpoint: Endpoint) throws(ZMQError) {
        try withHandle { (handle) throws(ZMQError) in
            _ = try ZMQCall.run("zmq_bind(\(endpoint))") { zmq_bind(handle, endpoint.rawValue) }
        }
    }

    /// Connects to `endpoint` (asynchronously: the connection is made in the background).
    /// - Throws: ``ZMQError`` (`invalidEndpoint`, ...).
    public func connect(_ endpoint: Endpoint) throws(ZMQError) {
        try withHandle { (handle) throws(ZMQError) in
            _ = try ZMQCall.run("zmq_connect(\(endpoint))") { zmq_connect(handle, endpoint.rawValue) }
        }
    }

    /// Stops listening on `endpoint` (use the resolved endpoint, not a wildcard).
    /// - Throws: ``ZMQError`` (`endpointNotFound`, ...).
    public func unbind(_ endpoint: Endpoint) throws(ZMQError) {
        try withHandle { (handle) throws(ZMQError) in
            _ = try ZMQCall.run("zmq_unbind(\(endpoint))") { zmq_unbind(handle, endpoint.rawValue) }
        }
    }

    /// Drops the connection to `endpoint`.
    /// - Throws: ``ZMQError`` (`endpointNotFound`, ...).
    public func disconnect(_ endpoint: Endpoint) throws(ZMQError) {
        try withHandle { (handle) throws(ZMQError) in
            _ = try ZMQCall.run("zmq_disconnect(\(endpoint))") { zmq_disconnect(handle, endpoint.rawValue) }
        }
    }
}

@available(*, unavailable, message: "ZMQSocket is bound to one thread; use SocketLoop to share access")
extension ZMQSocket: Sendable {}
