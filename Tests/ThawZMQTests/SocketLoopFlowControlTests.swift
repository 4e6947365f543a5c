import Synchronization
import Testing
import ThawTestKit
import ThawZMQ

/// The two flow-control knobs of a loop's sockets: an inbound limit (stop reading, so high-water marks
/// push back on senders) and the drop policy for a socket that would block (never stall the queue).
@Suite(.timeLimit(.minutes(1))) struct SocketLoopFlowControlTests {
    @Test func anInboundLimitPushesBackOnTheSenderUntilDeliveriesAreReleased() async throws {
        try await withAsyncTestContext { context, endpoints in
            let endpoint = endpoints.next()
            let receiver = [
                SocketSpec(kind: .pull, bind: [endpoint], options: [.receiveHighWaterMark(1)], inboundLimit: 2)
            ]
            try await withSocketLoop(context: context, sockets: receiver) { pullLoop in
                // The sender drops what would block, so back-pressure shows up as a drop count.
                let sender = [
                    SocketSpec(
                        kind: .push, connect: [endpoint], options: [.sendHighWaterMark(1)], whenBlocked: .drop)
                ]
                try await withSocketLoop(context: context, sockets: sender) { pushLoop in
                    var iterator = pullLoop.inbound.makeAsyncIterator()
                    var received: [Delivery] = []
                    try await pushLoop.send([Frame("warm-up")], on: pushLoop.sockets[0])
                    received.append(try #require(try await iterator.next()))
                    // 64 KiB frames: 100 of them are far more than the socket buffers between the two.
                    let payload = Frame([UInt8](repeating: 7, count: 64 << 10))
                    for _ in 0..<100 { try await pushLoop.send([payload], on: pushLoop.sockets[0]) }
                    // The receiver stops reading at 2 unreleased deliveries, so the sender must drop.
                    let deadline = ContinuousClock.now + .seconds(10)
                    while pushLoop.droppedMessages == 0 && ContinuousClock.now < deadline {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    #expect(pushLoop.droppedMessages > 0)
                    // Released, the rest flows: every message was either delivered or dropped, none lost.
                    pullLoop.release(received[0])
                    let delivered = Counter()
                    let consumer = Task {
                        for try await delivery in pullLoop.inbound {
                            delivered.value.add(1, ordering: .relaxed)
                            pullLoop.release(delivery)
                        }
                    }
                    defer { consumer.cancel() }
                    let settled = ContinuousClock.now + .seconds(10)
                    while delivered.value.load(ordering: .relaxed) + pushLoop.droppedMessages < 100
                        && ContinuousClock.now < settled
                    {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    #expect(delivered.value.load(ordering: .relaxed) + pushLoop.droppedMessages == 100)
                }
            }
        }
    }

    @Test func aSocketThatWouldBlockDropsWithoutStallingTheOtherSockets() async throws {
        try await withAsyncTestContext { context, endpoints in
            let nobody = endpoints.next("nobody")
            let endpoint = endpoints.next()
            let specs = [
                // No peer ever binds `nobody`; with `immediate` a PUSH has no pipe to queue on.
                SocketSpec(kind: .push, connect: [nobody], options: [.immediate(true)], whenBlocked: .drop),
                SocketSpec(kind: .pull, bind: [endpoint]),
                SocketSpec(kind: .push, connect: [endpoint]),
            ]
            try await withSocketLoop(context: context, sockets: specs) { loop in
                let (stuck, pull, push) = (loop.sockets[0], loop.sockets[1], loop.sockets[2])
                for index in 0..<10 {
                    try await loop.send([Frame("lost \(index)")], on: stuck)
                    try await loop.send([Frame("\(index)")], on: push)
                }
                // Everything behind the blocked messages still goes out, in order.
                let delivered = try await withDeadline(.seconds(10), "10 deliveries") {
                    var deliveries: [String] = []
                    for try await delivery in loop.inbound where delivery.socket == pull {
                        deliveries.append(delivery.frames[0].string ?? "")
                        if deliveries.count == 10 { break }
                    }
                    return deliveries
                }
                #expect(delivered == (0..<10).map { "\($0)" })
                #expect(loop.droppedMessages == 10)
            }
        }
    }
}

private final class Counter: Sendable {
    let value = Atomic<Int>(0)
}
