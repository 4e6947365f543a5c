/// A learning job was configured in a way the model cannot run (checked before any work starts).
public struct LearningError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        /// The freeze point is outside the model or leaves no trainable layer.
        public static let invalidFreezePoint = Code("invalidFreezePoint")
        /// A requested head does not fit the activation at the freeze point.
        public static let invalidHead = Code("invalidHead")
        /// The requested user is not in the data.
        public static let unknownUser = Code("unknownUser")
        public var description: String { name }
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code): \(reason)" }
}
