/// A validated ZeroMQ endpoint string: `tcp://host:port`, `ipc://path` or `inproc://name`.
///
/// It is named `EndpointAddress` (not `Endpoint`) so that ThawNodes can import this module and ThawZMQ
/// side by side without an ambiguous type name. The value keeps the exact text it was written with;
/// ``bindAddress`` gives the form a node should bind when the text names a remote-style host.
public struct EndpointAddress: Hashable, Sendable, CustomStringConvertible {
    /// The ZeroMQ transport.
    public enum Transport: String, Hashable, Sendable, CaseIterable {
        case tcp, ipc, inproc
    }

    /// The longest `ipc://` path a Unix socket accepts (sun_path is 108 bytes with the NUL).
    public static let maximumIPCPathBytes = 107

    /// The transport.
    public let transport: Transport
    /// For tcp: the host (name, IPv4 literal, `*` or bracketed IPv6); otherwise nil.
    public let host: String?
    /// For tcp: the port, or nil for the wildcard `*` (the OS picks; read it back from the ready line).
    public let port: Int?
    /// For ipc: the file path; for inproc: the name; for tcp: nil.
    public let path: String?

    /// Parses and validates an endpoint.
    /// - Parameter text: the endpoint as written in the topology.
    /// - Throws: a plain-text reason, wrapped by the caller into a ``TopologyError`` with its key path.
    public init(parsing text: String) throws(EndpointSyntaxError) {
        guard let range = text.firstRange(of: "://") else {
            throw EndpointSyntaxError("'\(text)' has no transport (expected tcp://host:port, ipc://path or inproc://name)")
        }
        let scheme = String(text[..<range.lowerBound])
        let rest = String(text[range.upperBound...])
        guard let transport = Transport(rawValue: scheme) else {
            throw EndpointSyntaxError("'\(text)' uses unknown transport '\(scheme)' (expected tcp, ipc or inproc)")
        }
        switch transport {
        case .tcp:
            guard let colon = rest.lastIndex(of: ":") else {
                throw EndpointSyntaxError("'\(text)' has no port (expected tcp://host:port)")
            }
            let host = String(rest[..<colon])
            let portText = String(rest[rest.index(after: colon)...])
            guard !host.isEmpty, host.allSatisfy({ $0.isLetter || $0.isNumber || "-._*[]:".contains($0) }) else {
                throw EndpointSyntaxError("'\(text)' has an invalid host '\(host)'")
            }
            if portText == "*" {
                self.init(transport: .tcp, host: host, port: nil, path: nil)
            } else if let port = Int(portText), (1...65535).contains(port) {
                self.init(transport: .tcp, host: host, port: port, path: nil)
            } else {
                throw EndpointSyntaxError("'\(text)' has an invalid port '\(portText)' (expected 1-65535 or *)")
            }
        case .ipc:
            guard !rest.isEmpty else { throw EndpointSyntaxError("'\(text)' has an empty ipc path") }
            guard rest.utf8.count <= Self.maximumIPCPathBytes else {
                throw EndpointSyntaxError(
                    "'\(text)' has an ipc path of \(rest.utf8.count) bytes (at most \(Self.maximumIPCPathBytes))"
                )
            }
            self.init(transport: .ipc, host: nil, port: nil, path: rest)
        case .inproc:
            guard !rest.isEmpty else { throw EndpointSyntaxError("'\(text)' has an empty inproc name") }
            self.init(transport: .inproc, host: nil, port: nil, path: rest)
        }
    }

    private init(transport: Transport, host: String?, port: Int?, path: String?) {
        self.transport = transport
        self.host = host
        self.port = port
        self.path = path
    }

    /// The endpoint as ZeroMQ expects it.
    public var description: String {
        switch transport {
        case .tcp: "tcp://\(host ?? "*"):\(port.map(String.init) ?? "*")"
        case .ipc, .inproc: "\(transport.rawValue)://\(path ?? "")"
        }
    }

    /// Whether the tcp host is a loopback or wildcard address (machine-local by construction).
    public var isLocalHost: Bool {
        guard let host else { return true }
        return ["127.0.0.1", "localhost", "*", "0.0.0.0", "[::1]", "[::]"].contains(host)
    }

    /// Whether the tcp host is a numeric address or wildcard rather than a DNS name.
    var isNumericHost: Bool {
        guard let host else { return true }
        return host == "*" || host.hasPrefix("[") || host.allSatisfy { $0.isNumber || $0 == "." }
    }

    /// The address to hand to `bind`: the text itself, except that a tcp endpoint naming a DNS host
    /// (`tcp://cloud-1:5701`) binds every interface on that port (`tcp://*:5701`), because peers connect
    /// by name and the binding machine may not resolve its own name to the interface they reach.
    public var bindAddress: EndpointAddress {
        guard transport == .tcp, !isNumericHost, host != "localhost" else { return self }
        return EndpointAddress(transport: .tcp, host: "*", port: port, path: nil)
    }

    /// The endpoint of instance `index` of a node with `count` processes: tcp ports count up
    /// (`:5710` → `:5711`), ipc paths and inproc names get a `-index` suffix. Wildcard ports stay wildcards.
    public func forInstance(_ index: Int) -> EndpointAddress {
        guard index > 0 else { return self }
        switch transport {
        case .tcp: return EndpointAddress(transport: .tcp, host: host, port: port.map { $0 + index }, path: nil)
        case .ipc, .inproc: return EndpointAddress(transport: transport, host: nil, port: nil, path: "\(path ?? "")-\(index)")
        }
    }
}

/// Why an endpoint string failed to parse (a plain reason; the loader adds file and key path).
public struct EndpointSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    public let reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

extension EndpointAddress: ExpressibleByStringLiteral {
    /// A literal endpoint, for tests and embedded defaults; a malformed literal is a programmer error.
    public init(stringLiteral value: String) {
        do { self = try EndpointAddress(parsing: value) } catch {
            preconditionFailure("invalid endpoint literal: \(error)")
        }
    }
}
