/// A node process did not behave: it could not start, never became ready, or would not stop.
///
/// A child that exits non-zero is *not* an error: ``NodeProcess/terminate(grace:)`` returns its
/// ``NodeProcess/ExitStatus`` as data. The description ends with the captured output, so a failing
/// test shows what the node printed.
public struct NodeProcessError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let value: String
        /// No `thaw` binary next to the test bundle and no `THAW_BIN`.
        public static let binaryNotFound = Code(value: "binaryNotFound")
        /// swift-subprocess could not start the child.
        public static let launchFailed = Code(value: "launchFailed")
        /// No ready line within the deadline.
        public static let readyTimeout = Code(value: "readyTimeout")
        /// The child exited before printing its ready line.
        public static let exitedBeforeReady = Code(value: "exitedBeforeReady")
        /// The first JSON line on stdout was not a valid ready line.
        public static let malformedReadyLine = Code(value: "malformedReadyLine")
        /// The child did not exit within the wait.
        public static let exitTimeout = Code(value: "exitTimeout")
        /// The child survived SIGKILL for the whole wait (should never happen).
        public static let killTimeout = Code(value: "killTimeout")
        /// swift-subprocess stopped watching a started child, so its exit status is unknown (should never happen).
        public static let lostTrack = Code(value: "lostTrack")
        public var description: String { value }
    }

    public let code: Code
    /// The node name.
    public let node: String
    public let reason: String
    /// The node's captured output up to the failure.
    public let output: [String]

    public init(_ code: Code, node: String, reason: String, output: [String] = []) {
        self.code = code
        self.node = node
        self.reason = reason
        self.output = output
    }

    public var description: String {
        let head = node.isEmpty ? reason : "\(node): \(reason)"
        return output.isEmpty ? head : head + "\n" + output.joined(separator: "\n")
    }
}
