import CLibZMQ

/// A CURVE key pair in Z85 text (40 characters each), from `zmq_curve_keypair`.
public struct CurveKeyPair: Sendable, Hashable {
    /// The public key, shared with peers.
    public let publicKey: String
    /// The secret key; keep it out of logs.
    public let secretKey: String

    /// Wraps existing Z85 keys.
    public init(publicKey: String, secretKey: String) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// The pair of a secret key, its public half derived with `zmq_curve_public`.
    /// - Throws: ``ZMQError`` `invalidArgument` when `secretKey` is not 40 valid Z85 characters.
    public init(secretKey: String) throws(ZMQError) {
        guard Self.isValidKey(secretKey) else {
            throw ZMQError(code: .invalidArgument, errno: 0, operation: "zmq_curve_public(malformed secret key)")
        }
        var publicKey = [CChar](repeating: 0, count: 41)
        _ = try ZMQCall.run("zmq_curve_public") { zmq_curve_public(&publicKey, secretKey) }
        self.init(publicKey: Self.z85String(publicKey), secretKey: secretKey)
    }

    /// Generates a fresh key pair.
    /// - Throws: ``ZMQError`` with `notSupported` when libzmq was built without CURVE.
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        _ = try ZMQCall.run("zmq_curve_keypair") { zmq_curve_keypair(&publicKey, &secretKey) }
        return CurveKeyPair(publicKey: z85String(publicKey), secretKey: z85String(secretKey))
    }

    /// Whether `text` is a CURVE key in Z85: exactly 40 characters that decode to 32 bytes.
    public static func isValidKey(_ text: String) -> Bool {
        guard text.utf8.count == 40 else { return false }
        return binaryKey(fromZ85: text) != nil
    }

    /// The 32 key bytes of a Z85 key, or `nil` when the text is not valid Z85.
    public static func binaryKey(fromZ85 text: String) -> [UInt8]? {
        guard text.utf8.count == 40 else { return nil }
        var bytes = [UInt8](repeating: 0, count: 32)
        let decoded = text.withCString { zmq_z85_decode(&bytes, $0) }
        return decoded == nil ? nil : bytes
    }

    /// The Z85 text (40 characters) of a 32-byte binary key, as a ZAP request carries it; `nil` for
    /// any other length.
    public static func z85Key(fromBinary bytes: [UInt8]) -> String? {
        guard bytes.count == 32 else { return nil }
        var text = [CChar](repeating: 0, count: 41)
        let encoded = zmq_z85_encode(&text, bytes, bytes.count)
        return encoded == nil ? nil : z85String(text)
    }

    private static func z85String(_ characters: [CChar]) -> String {
        String(decoding: characters.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension CurveKeyPair: CustomStringConvertible {
    /// Only the public key: a key pair printed into a log must not leak its secret half.
    public var description: String { "CurveKeyPair(public: \(publicKey))" }
}
