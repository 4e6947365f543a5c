/// Why values from outside ThawNN could not become a ``Tensor``.
public struct TensorError: Error, Hashable, Sendable, CustomStringConvertible {
    /// An extensible, opaque failure category.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable { case invalidShape, countMismatch, nonFinite }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The shape is empty, has a negative dimension, or its product overflows.
        public static let invalidShape = Code(.invalidShape)
        /// The product of the shape differs from the number of values.
        public static let countMismatch = Code(.countMismatch)
        /// A value is NaN or infinite.
        public static let nonFinite = Code(.nonFinite)

        public var description: String { "\(value)" }
    }

    public let code: Code
    /// What was wrong, with the offending numbers.
    public let context: String

    public init(_ code: Code, _ context: String) {
        self.code = code
        self.context = context
    }

    public var description: String { "TensorError.\(code): \(context)" }
}
