/// A key file, an allowlist or a node's CURVE setup that cannot be used.
///
/// Always thrown at start-up, before a socket exists: a node never runs half-secured.
public struct SecurityError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        /// A key or allowlist file is missing or unreadable.
        public static let missingFile = Code(name: "missingFile")
        /// A key file does not hold a valid Z85 key (or its public half does not match its secret).
        public static let badKeyFile = Code(name: "badKeyFile")
        /// A secret key file is readable by group or others.
        public static let insecurePermissions = Code(name: "insecurePermissions")
        /// An allowlist line cannot be read, or contradicts another.
        public static let badAllowlist = Code(name: "badAllowlist")
        /// A file would be overwritten.
        public static let fileExists = Code(name: "fileExists")
        /// A tcp peer has no known server key, or a CURVE server no allowlist.
        public static let incompleteSetup = Code(name: "incompleteSetup")

        public var description: String { name }
    }

    public var code: Code
    /// The file concerned (or the endpoint, for an incomplete setup).
    public var path: String
    public var detail: String

    public init(_ code: Code, path: String, _ detail: String) {
        self.code = code
        self.path = path
        self.detail = detail
    }

    public var description: String { "\(path): \(detail) (\(code))" }
}
