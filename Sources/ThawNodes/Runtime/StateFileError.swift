/// A durable state file could not be written, or was found unreadable when loading.
///
/// Loading is strict: a file that exists but fails any check throws instead of being treated as empty,
/// so nothing is lost silently (the caller decides whether to quarantine it). A missing file is not an
/// error; stores return `nil` for it.
public struct StateFileError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case io, badMagic, unsupportedVersion, truncated, checksumMismatch, invalidContent
        }
        private let value: Value

        /// Opening, reading, writing, syncing or renaming failed (see `errno`).
        public static let io = Code(value: .io)
        /// The file does not start with the expected magic bytes.
        public static let badMagic = Code(value: .badMagic)
        /// The file was written by a format version this build does not read.
        public static let unsupportedVersion = Code(value: .unsupportedVersion)
        /// The file ends before its declared content does, or has trailing bytes.
        public static let truncated = Code(value: .truncated)
        /// The content does not match its stored checksum.
        public static let checksumMismatch = Code(value: .checksumMismatch)
        /// The content parsed but violates an invariant (shape/count mismatch, duplicate id, bad value).
        public static let invalidContent = Code(value: .invalidContent)

        public var description: String { "\(value)" }
    }

    public var code: Code
    /// The file concerned.
    public var path: String
    /// A human-readable reason, for logs.
    public var detail: String
    /// The raw errno for `.io`, else 0.
    public var errno: Int32

    public init(code: Code, path: String, detail: String, errno: Int32 = 0) {
        self.code = code
        self.path = path
        self.detail = detail
        self.errno = errno
    }

    public var description: String {
        "state file \(path): \(code): \(detail)" + (errno != 0 ? " (errno \(errno))" : "")
    }
}
