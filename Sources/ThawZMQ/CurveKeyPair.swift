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

    /// Generates a fresh key pair.
    /// - Throws: ``ZMQError`` with `notSupported` when libzmq was built without CURVE.
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicKey = [CChar](repeating: 0, count: 41)
        var secretKey = [CChar](repeating: 0, count: 41)
        _ = try ZMQCall.run("zmq_curve_keypair") { zmq_curve_keypair(&publicKey, &secretKey) }
        return CurveKeyPair(publicKey: z85String(publicKey), secretKey: z85String(secretKey))
    }

    private static func z85String(_ characters: [CChar]) -> String {
        String(decoding: characters.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
