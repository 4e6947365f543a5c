import Synchronization
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
/// Ticks are coalesced: while one is waiting to be handled no second one is queued, so a node whose tick
/// work takes longer than `interval` (a device process simulating many phones) never builds a backlog of
/// ticks in front of the broadcasts and replies that arrive meanwhile.
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
    let tickQueued = TickGate()
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
                if !tickQueued.flag.exchange(true, ordering: .acquiringAndReleasing) { continuation.yield(.tick) }
            }
        }
        group.addTask {
            if await shutdown.wait() != nil { continuation.yield(.shutdown) }
        }
        tickQueued.flag.store(true, ordering: .releasing)
        continuation.yield(.tick)
        for await event in events {
            if case .tick = event { tickQueued.flag.store(false, ordering: .releasing) }
            if try await !handle(event) { break }
            if case .shutdown = event { break }
        }
        continuation.finish()
        group.cancelAll()
    }
}

/// Whether a tick is already waiting in a node's event stream (shared by the ticker and the consumer).
private final class TickGate: Sendable {
    let flag = Atomic<Bool>(false)
}
