/// A value from outside the registry that cannot be stored, or a stored row that cannot be read back.
///
/// Modelled on Hummingbird's `PersistError`: an opaque, extensible ``Code`` plus a context string that
/// names the offending field, so a log line says what was wrong without keeping only a message.
/// Validation failures are *runtime conditions* (a peer sent bad data); they are thrown on write and
/// never stored. SQLite failures are passed through as GRDB's `DatabaseError`, not wrapped.
public struct RegistryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is. New codes can be added without breaking callers that switch on
    /// the ones they know.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidShape, nonFiniteValue, emptyBatch, duplicateSample, valueOutOfRange
            case baseModelConflict, corruptRow, hashMismatch, invalidModel, batchConflict
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A shape with a non-positive dimension, or whose product differs from the value count.
        public static let invalidShape = Code(.invalidShape)
        /// A NaN or infinity in activations, parameters or a loss.
        public static let nonFiniteValue = Code(.nonFiniteValue)
        /// A batch with no samples, or a head with no parameters.
        public static let emptyBatch = Code(.emptyBatch)
        /// Two samples of one batch share a sample id.
        public static let duplicateSample = Code(.duplicateSample)
        /// A number that does not fit the column (a sequence number above `Int64.max`, a negative label).
        public static let valueOutOfRange = Code(.valueOutOfRange)
        /// A base model version re-registered with a different hash: versions are immutable.
        public static let baseModelConflict = Code(.baseModelConflict)
        /// A base model whose claimed content hash is not the SHA-256 of its checkpoint's contents.
        public static let hashMismatch = Code(.hashMismatch)
        /// A base model checkpoint that does not decode or holds another version than claimed.
        public static let invalidModel = Code(.invalidModel)
        /// A batch offered under a `(device, seq)` that already holds another batch (another user, other
        /// sample ids or labels, or other activations under the same stamps): refused, never acknowledged.
        public static let batchConflict = Code(.batchConflict)
        /// A stored row whose blob does not decode (truncated file, foreign writer).
        public static let corruptRow = Code(.corruptRow)

        public var description: String { base.rawValue }
    }

    public let code: Code
    /// Which value was wrong and why, e.g. `samples[3].activations: shape [2, 3] needs 6 values, got 5`.
    public let context: String

    public init(_ code: Code, _ context: String) {
        self.code = code
        self.context = context
    }

    public var description: String { "RegistryError(\(code)): \(context)" }
}
