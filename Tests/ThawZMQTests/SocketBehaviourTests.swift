import Testing
import ThawTestKit
import ThawZMQ

@Suite struct SocketBehaviourTests {
    @Test func pollTimeoutReturnsNoEvents() async throws {
        try await withTestContext { context in
            let pull = try context.socket(.pull)
            try pull.bind(context.endpoints.next())
            let poller = Poller()
            poller.add(pull, events: .readable)
            let clock = ContinuousClock()
            let start = clock.now
            #expect(try poller.poll(timeout: .milliseconds(50)).isEmpty)
            #expect(clock.now - start >= .milliseconds(40))
            pull.close()
        }
    }

    @Test func pollerWatchesSocketsAndPlainDescriptorsTogether() async throws {
        try await withTestContext { context in
            let endpoints = (0..<3).map { _ in context.endpoints.next() }
            let pulls = try endpoints.map { endpoint in
                let pull = try context.socket(.pull)
                try pull.bind(endpoint)
                return pull
            }
            let push = try context.socket(.push)
            try push.connect(endpoints[2])
            let poller = Poller()
            for pull in pulls { poller.add(pull) }
            try push.send(frames("only for the third"))
            let ready = try poller.poll(timeout: .seconds(5))
            #expect(ready.map(\.index) == [2])
            for socket in pulls + [push] { socket.close() }
        }
    }

    @Test func nonBlockingSendWouldBlockOnceHighWaterMarkIsReached() async throws {
        try await withTestContext { context in
            // No peer at all: a PUSH has nowhere to queue, so the first send would block.
            let lonely = try context.socket(.push, options: [.sendHighWaterMark(5)])
            try lonely.bind(context.endpoints.next())
            #expect(try lonely.send(frames("x"), mode: .dontWait) == .wouldBlock)

            // A reader that never reads: inproc queues exactly SNDHWM + RCVHWM messages.
            let push = try context.socket(.push, options: [.sendHighWaterMark(5)])
            try push.bind(.inproc("hwm"))
            let pull = try context.socket(.pull, options: [.receiveHighWaterMark(5)])
            try pull.connect(.inproc("hwm"))
            #expect(try push.sendHighWaterMark == 5)
            var accepted = 0
            while try push.send(frames("m"), mode: .dontWait) == .sent {
                accepted += 1
                try #require(accepted <= 100, "high-water mark never applied")
            }
            #expect(accepted == 10)
            for socket in [lonely, push, pull] { socket.close() }
        }
    }

    @Test func oversizeMessageIsDroppedByMaxMessageSize() async throws {
        try await withTestContext { context in
            let pull = try context.socket(.pull, options: [.maxMessageSize(1000)])
            let endpoint = try Transport.ipc.bind(pull, in: context)
            let push = try context.socket(.push)
            try push.connect(endpoint)
            try push.send(Frame([UInt8](repeating: 1, count: 2000)))
            #expect(try context.receiveIfAny(pull, timeout: .milliseconds(300)) == nil)
            push.close()
            pull.close()
        }
    }

    @Test func wildcardBindReportsTheRealPort() async throws {
        try await withTestContext { context in
            let socket = try context.socket(.pull)
            try socket.bind(.loopbackWildcard)
            let endpoint = try socket.lastEndpoint
            #expect(endpoint.rawValue.hasPrefix("tcp://127.0.0.1:"))
            #expect(!endpoint.rawValue.hasSuffix("*"))
            #expect(endpoint.transport == "tcp")
            try socket.unbind(endpoint)
            socket.close()
        }
    }

    @Test func bindingAnAddressInUseThrowsAddressInUse() async throws {
        try await withTestContext { context in
            let first = try context.socket(.pull)
            try first.bind(.loopbackWildcard)
            let second = try context.socket(.pull)
            let error = #expect(throws: ZMQError.self) { try second.bind(first.lastEndpoint) }
            #expect(error?.code == .addressInUse)
            #expect(error?.description.contains("zmq_bind") == true)
            first.close()
            second.close()
        }
    }

    @Test(arguments: ["nonsense", "tcp://", "bogus://somewhere", "tcp://127.0.0.1:notaport"])
    func malformedEndpointThrowsInvalidEndpoint(text: String) async throws {
        try await withTestContext { context in
            let socket = try context.socket(.push)
            let error = #expect(throws: ZMQError.self) { try socket.bind(Endpoint(text)) }
            #expect(error?.code == .invalidEndpoint)
            let connectError = #expect(throws: ZMQError.self) { try socket.connect(Endpoint(text)) }
            #expect(connectError?.code == .invalidEndpoint)
            socket.close()
        }
    }

    @Test func unbindingAnUnknownEndpointThrowsEndpointNotFound() async throws {
        try await withTestContext { context in
            let socket = try context.socket(.pull)
            let error = #expect(throws: ZMQError.self) { try socket.unbind(context.endpoints.next()) }
            #expect(error?.code == .endpointNotFound)
            socket.close()
        }
    }

    @Test func closingTwiceIsFine() async throws {
        try await withTestContext { context in
            let socket = try context.socket(.dealer, options: [.linger(.milliseconds(10))])
            #expect(try socket.linger == .milliseconds(10))
            socket.close()
            socket.close()
            #expect(socket.isClosed)
        }
    }

    @Test func everySocketKindCanBeCreatedAndConfigured() async throws {
        try await withTestContext { context in
            for kind in SocketKind.allCases {
                let socket = try context.socket(
                    kind,
                    options: [
                        .sendHighWaterMark(10), .receiveHighWaterMark(20), .sendTimeout(.milliseconds(5)),
                        .receiveTimeout(nil), .immediate(true), .heartbeatInterval(.seconds(1)),
                        .heartbeatTimeout(.seconds(3)), .heartbeatTTL(.seconds(6)),
                    ])
                #expect(try socket.receiveHighWaterMark == 20)
                socket.close()
            }
        }
    }

    @Test func leakedSocketFailsTheTestContext() async throws {
        await #expect(throws: TestKitError.self) {
            try await withTestContext { context in
                _ = try context.socket(.push)
            }
        }
    }
}
