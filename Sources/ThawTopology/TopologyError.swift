/// A problem found while loading or validating a topology, located by file and key path.
///
/// The description reads like a compiler diagnostic so that `thaw topology validate` can print it as
/// is: `local.yaml: nodes[2].role: unknown role 'wrker' (expected one of coordinator, registry, …)`.
/// The code is opaque and extensible (the swift-subprocess / Hummingbird `PersistError` shape): match on
/// it, never on the reason text.
public struct TopologyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of problem this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable {
            case unreadableFile, invalidYAML, unknownKey, missingKey, duplicateKey, invalidValue
            case duplicateName, unknownRole, invalidEndpoint, endpointCollision, unknownReference
            case outOfRange
        }
        private let value: Value

        /// The file could not be read (missing, unreadable, not UTF-8).
        public static let unreadableFile = Code(value: .unreadableFile)
        /// The text is not well-formed YAML.
        public static let invalidYAML = Code(value: .invalidYAML)
        /// A mapping holds a key the schema does not know (usually a typo).
        public static let unknownKey = Code(value: .unknownKey)
        /// A required key is absent.
        public static let missingKey = Code(value: .missingKey)
        /// A mapping names the same key twice.
        public static let duplicateKey = Code(value: .duplicateKey)
        /// A value has the wrong type or an unparseable form.
        public static let invalidValue = Code(value: .invalidValue)
        /// Two nodes (or expanded instances) share a name.
        public static let duplicateName = Code(value: .duplicateName)
        /// A node's `role` is not one of ``Role/allCases``.
        public static let unknownRole = Code(value: .unknownRole)
        /// An endpoint is not `tcp://host:port`, `ipc://path` or `inproc://name`, or is not allowed here.
        public static let invalidEndpoint = Code(value: .invalidEndpoint)
        /// Two endpoints would bind the same address.
        public static let endpointCollision = Code(value: .endpointCollision)
        /// A node refers to a node that does not exist or has the wrong role.
        public static let unknownReference = Code(value: .unknownReference)
        /// A number lies outside its allowed range.
        public static let outOfRange = Code(value: .outOfRange)

        public var description: String { value.rawValue }
    }

    /// What kind of problem this is.
    public let code: Code
    /// The file name or origin label the text came from (`local.yaml`, `<embedded>`).
    public let origin: String
    /// Where in the document: `nodes[2].endpoints.pull`; empty for the whole document.
    public let keyPath: String
    /// The 1-based line of the offending node, when the YAML parser knew it.
    public let line: Int?
    /// A human sentence saying what is wrong and, where possible, what was expected.
    public let reason: String

    public init(_ code: Code, origin: String, keyPath: String, line: Int? = nil, reason: String) {
        self.code = code
        self.origin = origin
        self.keyPath = keyPath
        self.line = line
        self.reason = reason
    }

    public var description: String {
        keyPath.isEmpty ? "\(origin): \(reason)" : "\(origin): \(keyPath): \(reason)"
    }
}
