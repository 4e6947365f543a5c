/// Why a set of frames could not be turned into a ``ThawMessage`` (or a message into frames).
///
/// Modelled on swift-subprocess's error struct: an opaque, extensible ``Code`` to switch on, plus a
/// human-readable `context` naming exactly what was wrong (which tensor, expected vs actual) and, for
/// protobuf failures, the underlying error. Every decoding violation has its own code so that tests and
/// servers can tell them apart; a receiver answers a refused request with ``ErrorReply``.
public struct WireError: Error, Sendable, Equatable, CustomStringConvertible {
    /// An opaque error kind; new kinds may be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case emptyMessage, tooManyFrames, messageTooLarge, headerTooLarge, headerUnparseable
            case unsupportedProtocolVersion, missingPayload, unknownPayloadKind, frameCountMismatch
            case unsupportedDType, invalidShape, shapeByteLengthMismatch, frameLengthMismatch, tensorTooLarge
            case nonFiniteValue, unexpectedTensors, missingField, invalidField
            case missingTopic, unknownTopic, topicMismatch, encodingFailed
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// No frames at all: there is no header.
        public static let emptyMessage = Code(.emptyMessage)
        /// More frames than ``WireLimits/maxFrames``.
        public static let tooManyFrames = Code(.tooManyFrames)
        /// All frames together exceed ``WireLimits/maxTotalBytes``.
        public static let messageTooLarge = Code(.messageTooLarge)
        /// The header frame exceeds ``WireLimits/maxHeaderBytes``.
        public static let headerTooLarge = Code(.headerTooLarge)
        /// The header frame is not a protobuf `Envelope` (see `underlying`).
        public static let headerUnparseable = Code(.headerUnparseable)
        /// `protocol_version` is not ``WireCodec/protocolVersion``.
        public static let unsupportedProtocolVersion = Code(.unsupportedProtocolVersion)
        /// The envelope has no payload.
        public static let missingPayload = Code(.missingPayload)
        /// The envelope's payload is a kind this build does not know (a newer peer).
        public static let unknownPayloadKind = Code(.unknownPayloadKind)
        /// The number of frames is not 1 + descriptors (+ topic).
        public static let frameCountMismatch = Code(.frameCountMismatch)
        /// A descriptor's dtype is unspecified or unknown.
        public static let unsupportedDType = Code(.unsupportedDType)
        /// A shape with no dimensions, too many, an absurd dimension, or an overflowing product.
        public static let invalidShape = Code(.invalidShape)
        /// The product of a shape times the element size is not the declared byte length.
        public static let shapeByteLengthMismatch = Code(.shapeByteLengthMismatch)
        /// The declared byte length is not the size of the frame that carries it.
        public static let frameLengthMismatch = Code(.frameLengthMismatch)
        /// One tensor exceeds ``WireLimits/maxTensorBytes``.
        public static let tensorTooLarge = Code(.tensorTooLarge)
        /// A float tensor holds NaN or an infinity.
        public static let nonFiniteValue = Code(.nonFiniteValue)
        /// The descriptors are not the tensors this payload kind carries (name, dtype, count or rank).
        public static let unexpectedTensors = Code(.unexpectedTensors)
        /// A required field is empty or unset.
        public static let missingField = Code(.missingField)
        /// A field has a value that contradicts another (e.g. label count vs sample count).
        public static let invalidField = Code(.invalidField)
        /// A PUB/SUB message has no topic frame.
        public static let missingTopic = Code(.missingTopic)
        /// The topic frame is not one of ``Topic``.
        public static let unknownTopic = Code(.unknownTopic)
        /// The topic frame does not match the payload kind.
        public static let topicMismatch = Code(.topicMismatch)
        /// The message could not be encoded (invalid content or a protobuf serialization failure).
        public static let encodingFailed = Code(.encodingFailed)

        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public let code: Code
    /// What exactly was wrong, e.g. `tensor "activations": byte_length 12 but frame has 8 bytes`.
    public let context: String
    /// The protobuf error behind ``Code/headerUnparseable`` or ``Code/encodingFailed``, if any.
    public let underlying: (any Error)?

    public init(_ code: Code, _ context: String, underlying: (any Error)? = nil) {
        self.code = code
        self.context = context
        self.underlying = underlying
    }

    public var description: String {
        var text = "WireError.\(code): \(context)"
        if let underlying { text += " (\(underlying))" }
        return text
    }

    /// Equal when code and context are equal; the underlying error is not compared.
    public static func == (lhs: WireError, rhs: WireError) -> Bool {
        lhs.code == rhs.code && lhs.context == rhs.context
    }
}
