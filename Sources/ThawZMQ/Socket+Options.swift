import CLibZMQ

/// A typed socket option. ``ZMQSocket/set(_:)`` applies it; ``SocketSpec`` carries a list of them.
public enum SocketOption: Sendable, Hashable {
    /// How long `close` waits to flush unsent messages; `nil` waits forever (libzmq's default, which
    /// hangs context termination). Sockets close with linger 0 unless this was set.
    case linger(Duration?)
    /// Messages queued per peer before sends block or drop (default 1000).
    case sendHighWaterMark(Int)
    /// Messages queued per peer on the receiving side (default 1000).
    case receiveHighWaterMark(Int)
    /// How long a `.wait` send blocks before returning would-block; `nil` forever.
    case sendTimeout(Duration?)
    /// How long a `.wait` receive blocks before returning `nil`; `nil` forever.
    case receiveTimeout(Duration?)
    /// Peers sending a larger message are disconnected; `nil` for no limit.
    case maxMessageSize(Int?)
    /// Interval between ZMTP heartbeats (0 disables them).
    case heartbeatInterval(Duration)
    /// How long to wait for a heartbeat reply before dropping the connection.
    case heartbeatTimeout(Duration)
    /// How long the remote peer should wait for traffic before dropping us (rounded to 100 ms).
    case heartbeatTTL(Duration)
    /// SUB: receive messages whose first frame starts with this prefix (empty: everything).
    case subscribe([UInt8])
    /// SUB: remove a subscription.
    case unsubscribe([UInt8])
    /// The identity a ROUTER peer sees for this socket.
    case routingID([UInt8])
    /// Queue messages only to completed connections.
    case immediate(Bool)
    /// ROUTER: sending to an unknown routing id fails with `hostUnreachable` instead of dropping.
    case routerMandatory(Bool)
    /// Act as CURVE server (needs ``curveSecretKey(_:)``).
    case curveServer(Bool)
    /// Our CURVE public key, Z85 (40 characters).
    case curvePublicKey(String)
    /// Our CURVE secret key, Z85 (40 characters).
    case curveSecretKey(String)
    /// Client: the server's CURVE public key, Z85 (40 characters).
    case curveServerKey(String)
    /// The ZAP domain for authentication.
    case zapDomain(String)
    /// Refuse a CURVE (or PLAIN) client when no ZAP handler is bound, instead of libzmq's legacy
    /// default of letting every client in (`ZMQ_ZAP_ENFORCE_DOMAIN`, a draft option that Debian's
    /// libzmq 4.3.4 is built with). Fail closed: a handler that is gone must not mean "allow all".
    case zapEnforceDomain(Bool)

    /// SUB: subscribe to a UTF-8 topic prefix.
    public static func subscribe(_ topic: String) -> SocketOption { .subscribe(Array(topic.utf8)) }

    /// Options for a CURVE server with `keys`.
    public static func curveServer(keys: CurveKeyPair) -> [SocketOption] {
        [.curveServer(true), .curveSecretKey(keys.secretKey)]
    }

    /// Options for a CURVE server whose clients must pass the ZAP handler of its context
    /// (``withZAPHandler(context:authenticate:_:)``), under `domain`; with no handler bound, every
    /// client is refused.
    public static func authenticatedCurveServer(keys: CurveKeyPair, domain: String) -> [SocketOption] {
        [.zapDomain(domain), .zapEnforceDomain(true), .curveServer(true), .curveSecretKey(keys.secretKey)]
    }

    /// Options for a CURVE client with its own `keys` that trusts `serverKey`.
    public static func curveClient(keys: CurveKeyPair, serverKey: String) -> [SocketOption] {
        [.curveServerKey(serverKey), .curvePublicKey(keys.publicKey), .curveSecretKey(keys.secretKey)]
    }
}

/// `ZMQ_ZAP_ENFORCE_DOMAIN` from zmq.h's draft section (not visible without ZMQ_BUILD_DRAFT_API).
private let zapEnforceDomainOption: Int32 = 93

extension ZMQSocket {
    /// Applies one option.
    /// - Throws: ``ZMQError`` (`invalidArgument` for a value libzmq refuses, e.g. a malformed key).
    public func set(_ option: SocketOption) throws(ZMQError) {
        switch option {
        case .linger(let value):
            lingerConfigured = true
            try setInt(ZMQ_LINGER, milliseconds(value), "ZMQ_LINGER")
        case .sendHighWaterMark(let value): try setInt(ZMQ_SNDHWM, Int32(value), "ZMQ_SNDHWM")
        case .receiveHighWaterMark(let value): try setInt(ZMQ_RCVHWM, Int32(value), "ZMQ_RCVHWM")
        case .sendTimeout(let value): try setInt(ZMQ_SNDTIMEO, milliseconds(value), "ZMQ_SNDTIMEO")
        case .receiveTimeout(let value): try setInt(ZMQ_RCVTIMEO, milliseconds(value), "ZMQ_RCVTIMEO")
        case .maxMessageSize(let value):
            var size = Int64(value ?? -1)
            try setRaw(ZMQ_MAXMSGSIZE, &size, MemoryLayout<Int64>.size, "ZMQ_MAXMSGSIZE")
        case .heartbeatInterval(let value): try setInt(ZMQ_HEARTBEAT_IVL, milliseconds(value), "ZMQ_HEARTBEAT_IVL")
        case .heartbeatTimeout(let value):
            try setInt(ZMQ_HEARTBEAT_TIMEOUT, milliseconds(value), "ZMQ_HEARTBEAT_TIMEOUT")
        case .heartbeatTTL(let value): try setInt(ZMQ_HEARTBEAT_TTL, milliseconds(value), "ZMQ_HEARTBEAT_TTL")
        case .subscribe(let prefix): try setBytes(ZMQ_SUBSCRIBE, prefix, "ZMQ_SUBSCRIBE")
        case .unsubscribe(let prefix): try setBytes(ZMQ_UNSUBSCRIBE, prefix, "ZMQ_UNSUBSCRIBE")
        case .routingID(let identity): try setBytes(ZMQ_ROUTING_ID, identity, "ZMQ_ROUTING_ID")
        case .immediate(let flag): try setInt(ZMQ_IMMEDIATE, flag ? 1 : 0, "ZMQ_IMMEDIATE")
        case .routerMandatory(let flag): try setInt(ZMQ_ROUTER_MANDATORY, flag ? 1 : 0, "ZMQ_ROUTER_MANDATORY")
        case .curveServer(let flag): try setInt(ZMQ_CURVE_SERVER, flag ? 1 : 0, "ZMQ_CURVE_SERVER")
        case .curvePublicKey(let key): try setBytes(ZMQ_CURVE_PUBLICKEY, Array(key.utf8), "ZMQ_CURVE_PUBLICKEY")
        case .curveSecretKey(let key): try setBytes(ZMQ_CURVE_SECRETKEY, Array(key.utf8), "ZMQ_CURVE_SECRETKEY")
        case .curveServerKey(let key): try setBytes(ZMQ_CURVE_SERVERKEY, Array(key.utf8), "ZMQ_CURVE_SERVERKEY")
        case .zapDomain(let domain): try setBytes(ZMQ_ZAP_DOMAIN, Array(domain.utf8), "ZMQ_ZAP_DOMAIN")
        case .zapEnforceDomain(let flag): try setInt(zapEnforceDomainOption, flag ? 1 : 0, "ZMQ_ZAP_ENFORCE_DOMAIN")
        }
    }

    /// Applies options in order.
    /// - Throws: ``ZMQError`` from the first option libzmq refuses.
    public func set(_ options: [SocketOption]) throws(ZMQError) {
        for option in options { try set(option) }
    }

    /// The endpoint last bound or connected, with a wildcard port resolved (`ZMQ_LAST_ENDPOINT`).
    public var lastEndpoint: Endpoint {
        get throws(ZMQError) {
            var buffer = [UInt8](repeating: 0, count: 512)
            var length = buffer.count
            _ = try withHandle { (handle) throws(ZMQError) in
                try ZMQCall.run("zmq_getsockopt(ZMQ_LAST_ENDPOINT)") {
                    zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &length)
                }
            }
            // The length includes the terminating NUL.
            return Endpoint(String(decoding: buffer.prefix(max(0, length - 1)), as: UTF8.self))
        }
    }

    /// The current send high-water mark.
    public var sendHighWaterMark: Int {
        get throws(ZMQError) { Int(try getInt(ZMQ_SNDHWM, "ZMQ_SNDHWM")) }
    }

    /// The current receive high-water mark.
    public var receiveHighWaterMark: Int {
        get throws(ZMQError) { Int(try getInt(ZMQ_RCVHWM, "ZMQ_RCVHWM")) }
    }

    /// The current linger, `nil` for infinite.
    public var linger: Duration? {
        get throws(ZMQError) {
            let value = try getInt(ZMQ_LINGER, "ZMQ_LINGER")
            return value < 0 ? nil : .milliseconds(value)
        }
    }

    /// A file descriptor that becomes readable when the socket's events may have changed
    /// (`ZMQ_FD`, edge-triggered). Prefer ``Poller``, which is level-triggered.
    public var fileDescriptor: Int32 {
        get throws(ZMQError) { try getInt(ZMQ_FD, "ZMQ_FD") }
    }

    private func milliseconds(_ duration: Duration?) -> Int32 {
        guard let duration else { return -1 }
        let (seconds, attoseconds) = duration.components
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    private func setInt(_ name: Int32, _ value: Int32, _ label: String) throws(ZMQError) {
        var value = value
        try setRaw(name, &value, MemoryLayout<Int32>.size, label)
    }

    private func setBytes(_ name: Int32, _ bytes: [UInt8], _ label: String) throws(ZMQError) {
        // Array.withUnsafeBytes is untyped-rethrows, so carry the typed error out in a Result.
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(ZMQError) in try setRaw(name, buffer.baseAddress!, buffer.count, label) }
        }
        try result.get()
    }

    private func setRaw(_ name: Int32, _ value: UnsafeRawPointer, _ size: Int, _ label: String) throws(ZMQError) {
        try withHandle { (handle) throws(ZMQError) in
            _ = try ZMQCall.run("zmq_setsockopt(\(label))") { zmq_setsockopt(handle, name, value, size) }
        }
    }

    private func getInt(_ name: Int32, _ label: String) throws(ZMQError) -> Int32 {
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        try withHandle { (handle) throws(ZMQError) in
            _ = try ZMQCall.run("zmq_getsockopt(\(label))") { zmq_getsockopt(handle, name, &value, &size) }
        }
        return value
    }
}
