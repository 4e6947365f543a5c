import Foundation

/// The one JSON line a `thaw` node prints on stdout once every socket is bound:
/// `{"ready":true,"role":"worker","node":"worker-1","pid":4242,"endpoints":{"pull":"tcp://127.0.0.1:5711"}}`.
///
/// Tests and `thaw up` wait for it instead of sleeping; `endpoints` carries the *resolved* addresses,
/// so a node bound to `tcp://127.0.0.1:*` reports its real port. Logs go to stderr, so stdout holds
/// nothing else. The role is a plain string here because this parser must not depend on the product.
public struct ReadyLine: Codable, Hashable, Sendable {
    /// Always `true`; present so a reader can tell the line from any other JSON.
    public var ready: Bool
    /// The node's role (`coordinator`, `registry`, `worker`, `device`, `monitor`).
    public var role: String
    /// The node (process) name, e.g. `worker-1`.
    public var node: String
    /// The process id.
    public var pid: Int32
    /// Endpoint name to the address the node actually bound.
    public var endpoints: [String: String]

    public init(role: String, node: String, pid: Int32, endpoints: [String: String]) {
        self.ready = true
        self.role = role
        self.node = node
        self.pid = pid
        self.endpoints = endpoints
    }

    /// Parses one line (without its newline).
    /// - Throws: ``ReadyLineError`` if the text is not a single JSON object of this shape with `ready: true`.
    public static func parse(_ line: String) throws(ReadyLineError) -> ReadyLine {
        guard !line.contains("\n") else { throw ReadyLineError(line: line, reason: "the ready line must be a single line") }
        let decoded: ReadyLine
        do {
            decoded = try JSONDecoder().decode(ReadyLine.self, from: Data(line.utf8))
        } catch {
            throw ReadyLineError(line: line, reason: "not a ready line: \(error)")
        }
        guard decoded.ready else { throw ReadyLineError(line: line, reason: "\"ready\" is false") }
        return decoded
    }

    /// The line to print: compact JSON with sorted keys, no trailing newline.
    public func encodedLine() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding a struct of strings, ints and a string dictionary cannot fail.
        let data = (try? encoder.encode(self)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// A stdout line that should have been a ready line and is not.
public struct ReadyLineError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The offending line.
    public let line: String
    /// What is wrong with it.
    public let reason: String

    public var description: String { "\(reason) (line: \(line))" }
}
