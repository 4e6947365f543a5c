/// A server's answer to a request it refuses (for example one that failed ``WireCodec`` validation).
public struct ErrorReply: Sendable, Equatable {
    public enum Code: Sendable, Hashable, CaseIterable {
        /// The request failed wire validation.
        case malformed
        /// The server does not handle this message kind.
        case unsupported
        case notFound
        case `internal`
        case unavailable
        /// The authenticated sender may not make this request (docs/SECURITY.md).
        case forbidden
    }
    public var code: Code
    public var message: String
    /// The refused request's envelope sequence, when it could be read (0 otherwise).
    public var inReplyToSequence: UInt64

    public init(code: Code, message: String, inReplyToSequence: UInt64 = 0) {
        self.code = code
        self.message = message
        self.inReplyToSequence = inReplyToSequence
    }
}
