import ThawZMQ

/// One thing a node reacts to. A node has exactly one consumer of these, so its state machine is
/// never touched from two tasks and needs no lock.
enum NodeEvent: Sendable {
    case delivery(Delivery)
    case tick
    case shutdown
}

/// Merges a socket loop's inbound messages, a periodic tick and the shutdown signal into one stream
/// and feeds it, in order, to `handle` until `handle` returns `false`, the loop ends, or a signal
/// arrives (delivered as ``NodeEvent/shutdown`` so the node can say goodbye first).
///
/// Deliveries on `replySocket` (a DEALER the node sends requests on) go to `replies` instead, so that
/// the handler can await the answer to a request while it handles an event.
func runNodeEvents(
    loop: SocketLoop,
    tickEvery interval: Duration,
    shutdown: ShutdownSignal,
    replySocket: SocketID? = nil,
    replies: DeliveryQueue? = nil,
    _ handle: (NodeEvent) async throws -> Bool
) async throws {
    let (events, continuation) = AsyncStream<NodeEvent>.makeStream()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            for try await delivery in loop.inbound {
                if delivery.socket == replySocket, let replies {
                    await replies.push(delivery)
                } else {
                    continuation.yield(.delivery(delivery))
                }
            }
            await replies?.finish()
            continuation.finish()
        }
        group.addTask {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                continuation.yield(.tick)
            }
        }
        group.addTask {
            if await shutdown.wait() != nil { continuation.yield(.shutdown) }
        }
        continuation.yield(.tick)
        for await event in events {
            if try await !handle(event) { break }
            if case .shutdown = event { break }
        }
        continuation.finish()
        group.cancelAll()
    }
}
