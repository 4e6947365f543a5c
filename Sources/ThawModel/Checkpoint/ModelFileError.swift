/// Why a model file could not be written, read or trusted.
public struct ModelFileError: Error, Hashable, Sendable, CustomStringConvertible {
    /// An extensible, opaque failure category.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case badMagic, unsupportedFormatVersion, truncated, trailingBytes, checksumMismatch
            case invalidArchitecture, tensorMismatch, nonFiniteValue, io
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The file does not start with `THAWMDL1`: not a Thaw model file.
        public static let badMagic = Code(.badMagic)
        /// The format version is not one this build reads.
        public static let unsupportedFormatVersion = Code(.unsupportedFormatVersion)
        /// The file ends before a field its header promises.
        public static let truncated = Code(.truncated)
        /// Bytes follow the checksum.
        public static let trailingBytes = Code(.trailingBytes)
        /// The trailing SHA-256 does not match the bytes before it (corruption).
        public static let checksumMismatch = Code(.checksumMismatch)
        /// The architecture section does not decode or does not validate.
        public static let invalidArchitecture = Code(.invalidArchitecture)
        /// The tensor table's names, shapes or value count disagree with the architecture.
        public static let tensorMismatch = Code(.tensorMismatch)
        /// A parameter is NaN or infinite.
        public static let nonFiniteValue = Code(.nonFiniteValue)
        /// Reading or writing the file failed.
        public static let io = Code(.io)

        public var description: String { "\(value)" }
    }

    public let code: Code
    /// What was found and where (byte offsets, names, the path, the underlying error).
    public let context: String

    public init(_ code: Code, _ context: String) {
        self.code = code
        self.context = context
    }

    public var description: String { "ModelFileError.\(code): \(context)" }
}
