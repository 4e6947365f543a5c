/// A ZeroMQ endpoint such as `tcp://127.0.0.1:*`, `ipc:///tmp/thaw-ab12/x` or `inproc://name`.
///
/// A thin value type: libzmq validates the text at bind/connect time and reports a malformed one
/// as ``ZMQError/Code/invalidEndpoint``. The helpers only build well-formed strings.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The endpoint text passed to libzmq.
    public let rawValue: String

    public init(_ rawValue: String) {
        self.rawValue = rawValue
    }

    public init(stringLiteral value: String) {
        self.rawValue = value
    }

    /// `tcp://host:port`.
    public static func tcp(host: String, port: Int) -> Endpoint {
        Endpoint("tcp://\(host):\(port)")
    }

    /// `tcp://127.0.0.1:*`: bind to a free loopback port; read the real one back with
    /// ``ZMQSocket/lastEndpoint``.
    public static let loopbackWildcard = Endpoint("tcp://127.0.0.1:*")

    /// `ipc://path`. Unix socket paths are limited to 107 bytes.
    public static func ipc(path: String) -> Endpoint {
        Endpoint("ipc://\(path)")
    }

    /// `inproc://name`: in-process only, same context.
    public static func inproc(_ name: String) -> Endpoint {
        Endpoint("inproc://\(name)")
    }

    /// The transport prefix (`tcp`, `ipc`, `inproc`), if any.
    public var transport: Substring? {
        guard let range = rawValue.firstRange(of: "://") else { return nil }
        return rawValue[..<range.lowerBound]
    }

    public var description: String { rawValue }
}
