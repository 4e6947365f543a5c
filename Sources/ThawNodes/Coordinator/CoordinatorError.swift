import ThawNN

/// A coordinator command was refused; the state is unchanged.
public struct CoordinatorError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable { case versionNotNewer, freezePointOutOfRange }
        private let value: Value

        /// A published model version was not greater than the current one (versions never go back).
        public static let versionNotNewer = Code(value: .versionNotNewer)
        /// A freeze point outside `1..<layerCount`.
        public static let freezePointOutOfRange = Code(value: .freezePointOutOfRange)

        public var description: String { "\(value)" }
    }

    public var code: Code
    public var detail: String

    public init(code: Code, detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "coordinator refused: \(code): \(detail)" }
}
