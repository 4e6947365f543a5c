import ThawWire
import ThawZMQ

/// One request over a fresh DEALER and one reply within a bounded wait: what command-line tools
/// (`thaw ctl`) need. Long-lived nodes use ``RegistryClient`` on their own socket loop instead.
public enum OneShotRequest {
    /// Sends `message` to the ROUTER at `endpoint` (as a CURVE client when `curve` is given and the
    /// endpoint is tcp) and returns the decoded reply.
    /// - Throws: ``NodeError`` `.timeout` without a reply within `timeout` (`peer` names who was asked),
    ///   `WireError` for a reply that does not decode.
    public static func send(
        _ message: ThawMessage, to endpoint: Endpoint, sender: String, timeout: Duration, peer: String,
        curve: NodeCurve? = nil
    ) async throws -> ThawMessage {
        let context = try ZMQContext()
        defer { try? context.shutdown() }
        let replies = DeliveryQueue()
        let plain = [SocketSpec(kind: .dealer, connect: [endpoint])]
        return try await withSocketLoop(context: context, sockets: try curve?.secure(plain) ?? plain) { loop in
            let dealer = loop.sockets[0]
            return try await withThrowingTaskGroup(of: ThawMessage?.self) { group in
                group.addTask {
                    for try await delivery in loop.inbound where delivery.socket == dealer {
                        await replies.push(delivery)
                    }
                    await replies.finish()
                    return nil
                }
                var stamper = EnvelopeStamper(sender: sender)
                try await loop.send(try stamper.encode(message), on: dealer)
                guard let delivery = await replies.next(timeout: timeout) else {
                    group.cancelAll()
                    throw NodeError(.timeout, "no answer from the \(peer) at \(endpoint) within \(timeout)")
                }
                group.cancelAll()
                return try WireCodec.decode(delivery.frames.map(\.bytes)).message
            }
        }
    }
}
