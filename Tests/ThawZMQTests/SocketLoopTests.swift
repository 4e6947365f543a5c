import Testing
import ThawTestKit
import ThawZMQ

/// Collects `count` deliveries from `loop`, failing after `limit`.
private func collect(_ count: Int, from loop: SocketLoop, within limit: Duration = .seconds(10)) async throws
    -> [Delivery]
{
    try await withDeadline(limit, "\(count) deliveries") {
        var deliveries: [Delivery] = []
        for try await delivery in loop.inbound {
            deliveries.append(delivery)
            if deliveries.count == count { break }
        }
        return deliveries
    }
}

@Suite struct SocketLoopTests {
    @Test func loopSendsAndReceivesThenStopsAndJoins() async throws {
        try await withAsyncTestContext { context, endpoints in
            let endpoint = endpoints.next()
            let specs = [
                SocketSpec(kind: .pull, bind: [endpoint]),
                SocketSpec(kind: .push, connect: [endpoint], options: [.sendHighWaterMark(100)]),
            ]
            let escaped = try await withSocketLoop(context: context, sockets: specs, queueCapacity: 8) { loop in
                let (pull, push) = (loop.sockets[0], loop.sockets[1])
                #expect(loop.boundEndpoints(of: pull) == [endpoint])
                for index in 0..<200 { try await loop.send([Frame("n"), Frame("\(index)")], on: push) }
                let deliveries = try await collect(200, from: loop)
                #expect(deliveries.allSatisfy { $0.socket == pull })
                #expect(deliveries.map { $0.frames[1].string ?? "" } == (0..<200).map { "\($0)" })
                return loop
            }
            // The scope joined the thread: sending now reports a stopped loop, the stream is over, and
            // the context terminates within its deadline (so no socket was left open).
            let error = #expect(throws: ZMQError.self) {
                _ = try escaped.trySend([Frame("late")], on: escaped.sockets[1])
            }
            #expect(error?.code == .loopStopped)
            var iterator = escaped.inbound.makeAsyncIterator()
            #expect(try await iterator.next() == nil)
        }
    }

    @Test func loopsResolveWildcardEndpointsAndRouteByIdentity() async throws {
        try await withAsyncTestContext { context, _ in
            let server = [SocketSpec(kind: .router, bind: [.loopbackWildcard], options: [.routerMandatory(true)])]
            try await withSocketLoop(context: context, sockets: server) { serverLoop in
                let router = serverLoop.sockets[0]
                let endpoint = try #require(serverLoop.boundEndpoints(of: router).first)
                #expect(!endpoint.rawValue.hasSuffix("*"))
                let client = [
                    SocketSpec(kind: .dealer, connect: [endpoint], options: [.routingID(Array("dev-1".utf8))])
                ]
                try await withSocketLoop(context: context, sockets: client) { clientLoop in
                    try await clientLoop.send([Frame("hello")], on: clientLoop.sockets[0])
                    let request = try await collect(1, from: serverLoop)[0]
                    #expect(request.frames == [Frame("dev-1"), Frame("hello")])
                    try await serverLoop.send([Frame("dev-1"), Frame("welcome")], on: router)
                    try await serverLoop.send([Frame("nobody"), Frame("dropped")], on: router)
                    let reply = try await collect(1, from: clientLoop)[0]
                    #expect(reply.frames == [Frame("welcome")])
                }
            }
        }
    }

    @Test func fullQueueMakesTrySendReturnFalse() async throws {
        try await withAsyncTestContext { context, endpoints in
            // A PUSH with no peer blocks at once, so the queue head stalls and the queue fills.
            let specs = [SocketSpec(kind: .push, bind: [endpoints.next()])]
            try await withSocketLoop(context: context, sockets: specs, queueCapacity: 2) { loop in
                // The thread takes exactly one message off the queue (it stalls on it), so the queue
                // accepts capacity + 1 messages in all, then stays full.
                let accepted = try await withDeadline(.seconds(60), "queue to fill") {
                    var accepted = 0
                    while accepted < 3 {
                        if try loop.trySend([Frame("x")], on: loop.sockets[0]) {
                            accepted += 1
                        } else {
                            await Task.yield()
                        }
                    }
                    return accepted
                }
                #expect(accepted == 3)
                #expect(try !loop.trySend([Frame("x")], on: loop.sockets[0]))
                // A send suspended on the full queue is released by cancellation, not left hanging.
                let waiting = Task { try await loop.send([Frame("y")], on: loop.sockets[0]) }
                waiting.cancel()
                await #expect(throws: CancellationError.self) { try await waiting.value }
            }
        }
    }

    @Test func setupFailureThrowsAndLeavesNoSocketOpen() async throws {
        try await withAsyncTestContext { context, endpoints in
            let specs = [
                SocketSpec(kind: .pull, bind: [endpoints.next()]),
                SocketSpec(kind: .push, bind: ["not-an-endpoint"]),
            ]
            let error = await #expect(throws: ZMQError.self) {
                try await withSocketLoop(context: context, sockets: specs) { _ in }
            }
            #expect(error?.code == .invalidEndpoint)
        }
    }

    @Test func pubSubSpecsCarrySubscriptions() async throws {
        try await withAsyncTestContext { context, endpoints in
            let endpoint = endpoints.next()
            let specs = [
                SocketSpec(kind: .pub, bind: [endpoint]),
                SocketSpec(kind: .sub, connect: [endpoint], options: [.subscribe("a")]),
            ]
            try await withSocketLoop(context: context, sockets: specs) { loop in
                let (pub, sub) = (loop.sockets[0], loop.sockets[1])
                // Slow joiner: publish probes until one arrives, then a filtered and a matching message.
                let first = try await withDeadline(.seconds(60), "subscription") { () async throws -> Delivery? in
                    let prober = Task {
                        while !Task.isCancelled {
                            try await loop.send([Frame("a.probe")], on: pub)
                            try await Task.sleep(for: .milliseconds(10))
                        }
                    }
                    defer { prober.cancel() }
                    for try await delivery in loop.inbound { return delivery }
                    return nil
                }
                #expect(first?.socket == sub)
                try await loop.send([Frame("b.filtered")], on: pub)
                try await loop.send([Frame("a.data")], on: pub)
                let later = try await withDeadline(.seconds(10), "data") { () async throws -> Delivery? in
                    for try await delivery in loop.inbound where delivery.frames[0] != Frame("a.probe") {
                        return delivery
                    }
                    return nil
                }
                #expect(later?.frames == [Frame("a.data")])
            }
        }
    }
}
