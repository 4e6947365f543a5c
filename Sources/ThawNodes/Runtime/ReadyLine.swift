import Foundation

/// The one JSON line a node prints on stdout once its sockets are bound, so that a launcher or a
/// test knows the node is serving and where (a wildcard `tcp://127.0.0.1:*` is resolved here).
///
/// Logs go to stderr; stdout carries only this line and, for devices, JSON progress/report lines,
/// so a parent process can read stdout without parsing log text.
public struct ReadyLine: Codable, Sendable, Equatable {
    public var ready: Bool
    public var role: String
    public var node: String
    public var pid: Int32
    public var endpoints: [String: String]

    public init(role: String, node: String, endpoints: [String: String]) {
        self.ready = true
        self.role = role
        self.node = node
        self.pid = ProcessInfo.processInfo.processIdentifier
        self.endpoints = endpoints
    }

    /// Writes the line to stdout and flushes, because a parent blocks on it.
    public func emit() {
        StdoutLine.write(self)
    }
}

/// Writes single JSON lines to stdout, whole, with a flush after each.
public enum StdoutLine {
    public static func write(_ value: some Encodable) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(value) else { return }
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }
}
