import ThawTestKit
import ThawZMQ

/// The transports a pattern test runs over. TCP binds a loopback wildcard and reads the port back.
enum Transport: String, CaseIterable, Sendable, CustomStringConvertible {
    case tcp, ipc

    var description: String { rawValue }

    /// Binds `socket` and returns the endpoint peers connect to.
    func bind(_ socket: ZMQSocket, in context: TestContext) throws -> Endpoint {
        switch self {
        case .tcp:
            try socket.bind(.loopbackWildcard)
            return try socket.lastEndpoint
        case .ipc:
            let endpoint = context.endpoints.next()
            try socket.bind(endpoint)
            return endpoint
        }
    }
}

/// Frames from strings, for short test messages.
func frames(_ parts: String...) -> [Frame] {
    parts.map { Frame($0) }
}

/// Sends `probe` on `publisher` until `subscriber` receives a message, so the subscription has
/// reached the publisher (the slow-joiner problem) without a sleep. Returns the first non-probe
/// message seen, if one slipped in.
func awaitSubscription(
    publisher: ZMQSocket,
    subscriber: ZMQSocket,
    probe: [Frame],
    in context: TestContext,
    pump: () throws -> Void = {}
) throws {
    for _ in 0..<400 {
        try publisher.send(probe)
        try pump()
        if try context.receiveIfAny(subscriber, timeout: .milliseconds(10)) != nil { return }
    }
    throw TestKitError("subscription never reached the publisher")
}

/// Receives, skipping any late probe messages.
func receiveSkipping(
    _ probe: [Frame],
    from socket: ZMQSocket,
    in context: TestContext,
    pump: () throws -> Void = {}
) throws -> [Frame] {
    for _ in 0..<400 {
        try pump()
        if let message = try context.receiveIfAny(socket, timeout: .milliseconds(10)), message != probe {
            return message
        }
    }
    throw TestKitError("no non-probe message arrived")
}
