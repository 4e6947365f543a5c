/// One ZAP authentication request (ZeroMQ RFC 27, ZAP 1.0), as libzmq sends it to the handler
/// bound at `inproc://zeromq.zap.01` when a client connects to a server socket of the same context.
///
/// Frames after REP strips the delimiter: version ("1.0"), request id, domain, address, routing id,
/// mechanism ("NULL", "PLAIN", "CURVE"), then the mechanism's credentials (CURVE: the client's
/// 32-byte long-term public key).
public struct ZAPRequest: Sendable, Hashable {
    /// The only version RFC 27 defines.
    public static let version = "1.0"

    /// Opaque; the reply must echo it.
    public var requestID: [UInt8]
    /// The server socket's ZAP domain (``SocketOption/zapDomain(_:)``).
    public var domain: String
    /// The client's IP address (tcp), for logs and address filters.
    public var address: String
    /// The connection's routing id, often empty.
    public var identity: [UInt8]
    /// `NULL`, `PLAIN` or `CURVE`.
    public var mechanism: String
    /// Mechanism-specific credentials, one per frame.
    public var credentials: [[UInt8]]

    public init(
        requestID: [UInt8], domain: String, address: String, identity: [UInt8] = [], mechanism: String,
        credentials: [[UInt8]]
    ) {
        self.requestID = requestID
        self.domain = domain
        self.address = address
        self.identity = identity
        self.mechanism = mechanism
        self.credentials = credentials
    }

    /// The client's CURVE public key in Z85, when the mechanism is CURVE and the key is well formed.
    public var curvePublicKey: String? {
        guard mechanism == "CURVE", credentials.count == 1 else { return nil }
        return CurveKeyPair.z85Key(fromBinary: credentials[0])
    }

    /// Parses the frames a REP socket received.
    /// - Throws: ``ZAPProtocolError`` for a wrong frame count or version; the handler answers it
    ///   with status 500 (libzmq itself never sends one).
    public init(frames: [[UInt8]]) throws(ZAPProtocolError) {
        guard frames.count >= 6 else {
            throw ZAPProtocolError(requestID: frames.count > 1 ? frames[1] : [], reason: "\(frames.count) frames (at least 6)")
        }
        guard String(decoding: frames[0], as: UTF8.self) == Self.version else {
            throw ZAPProtocolError(requestID: frames[1], reason: "unsupported ZAP version '\(String(decoding: frames[0], as: UTF8.self))'")
        }
        self.init(
            requestID: frames[1], domain: String(decoding: frames[2], as: UTF8.self),
            address: String(decoding: frames[3], as: UTF8.self), identity: frames[4],
            mechanism: String(decoding: frames[5], as: UTF8.self), credentials: Array(frames[6...]))
    }

    /// The request's frames (REP adds the delimiter); for tests that play libzmq's part.
    public var frames: [[UInt8]] {
        [Array(Self.version.utf8), requestID, Array(domain.utf8), Array(address.utf8), identity, Array(mechanism.utf8)]
            + credentials
    }
}

/// A ZAP request the handler cannot read.
public struct ZAPProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The request id, when the frame was there, so the reply can still be matched.
    public let requestID: [UInt8]
    public let reason: String

    public var description: String { "malformed ZAP request: \(reason)" }
}
