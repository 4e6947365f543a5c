/// Why a data file could not be read. Every malformed input ends here, never in a trap: data files
/// come from the user's disk (`--data DIR`), so they are an edge that is validated once.
public struct DataError: Error, Hashable, Sendable, CustomStringConvertible {
    /// An opaque, extensible error code (Hummingbird's `PersistError` shape).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Kind: Hashable, Sendable {
            case fileUnreadable, truncated, wrongMagic, wrongType, dimensionMismatch
            case countMismatch, invalidValue, decompression
        }
        private let kind: Kind
        private init(_ kind: Kind) { self.kind = kind }

        /// The file does not exist or could not be read.
        public static let fileUnreadable = Code(.fileUnreadable)
        /// The file ends before its header or its data does.
        public static let truncated = Code(.truncated)
        /// The first two bytes are not zero, or there are no dimensions.
        public static let wrongMagic = Code(.wrongMagic)
        /// The IDX type code is not the one this file must have (or is unknown).
        public static let wrongType = Code(.wrongType)
        /// The dimensions do not match the data size or the expected rank/shape.
        public static let dimensionMismatch = Code(.dimensionMismatch)
        /// Images, labels and writer ids disagree on the number of samples.
        public static let countMismatch = Code(.countMismatch)
        /// A value is out of range (a label above 9).
        public static let invalidValue = Code(.invalidValue)
        /// The gzip stream is corrupt.
        public static let decompression = Code(.decompression)

        public var description: String { "\(kind)" }
    }

    public let code: Code
    /// The file (or resource) the error is about.
    public let path: String
    /// A human-readable explanation with the offending numbers.
    public let reason: String

    public init(_ code: Code, path: String, reason: String) {
        self.code = code
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path): \(code): \(reason)" }
}
