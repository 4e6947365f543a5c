import Testing
import ThawTestKit
import ThawZMQ

@Suite struct PatternTests {
    @Test(arguments: Transport.allCases)
    func pushPullDeliversInOrder(transport: Transport) async throws {
        try await withTestContext { context in
            let pull = try context.socket(.pull)
            let endpoint = try transport.bind(pull, in: context)
            let push = try context.socket(.push)
            try push.connect(endpoint)
            for index in 0..<10 { try push.send(Frame("m\(index)")) }
            for index in 0..<10 { #expect(try context.receive(pull) == frames("m\(index)")) }
            push.close()
            pull.close()
        }
    }

    @Test(arguments: Transport.allCases)
    func subscriberReceivesOnlyMatchingPrefix(transport: Transport) async throws {
        try await withTestContext { context in
            let pub = try context.socket(.pub)
            let endpoint = try transport.bind(pub, in: context)
            let sub = try context.socket(.sub, options: [.subscribe("weather."), .subscribe("probe")])
            try sub.connect(endpoint)
            let probe = frames("probe")
            try awaitSubscription(publisher: pub, subscriber: sub, probe: probe, in: context)
            try pub.send(frames("news.sport", "ignored"))
            try pub.send(frames("weather.oslo", "-3"))
            #expect(try receiveSkipping(probe, from: sub, in: context) == frames("weather.oslo", "-3"))
            sub.close()
            pub.close()
        }
    }

    @Test(arguments: Transport.allCases)
    func xpubXsubForwardSubscriptionsAndMessages(transport: Transport) async throws {
        try await withTestContext { context in
            let pub = try context.socket(.pub)
            let upstream = try transport.bind(pub, in: context)
            let xsub = try context.socket(.xsub)
            try xsub.connect(upstream)
            let xpub = try context.socket(.xpub)
            let downstream = try transport.bind(xpub, in: context)
            let sub = try context.socket(.sub, options: [.subscribe("t")])
            try sub.connect(downstream)

            var subscriptionSeen = false
            // One proxy step, as zmq_proxy does: subscriptions go up, messages come down.
            let pump = { () throws in
                while let subscription = try xpub.receive(.dontWait) {
                    // XPUB reports a subscription as 0x01 followed by the prefix.
                    if subscription == [Frame([1] + Array("t".utf8))] { subscriptionSeen = true }
                    try xsub.send(subscription)
                }
                while let message = try xsub.receive(.dontWait) { try xpub.send(message) }
            }
            let probe = frames("t.probe")
            try awaitSubscription(publisher: pub, subscriber: sub, probe: probe, in: context, pump: pump)
            try pub.send(frames("x.dropped"))
            try pub.send(frames("t.data", "payload"))
            #expect(try receiveSkipping(probe, from: sub, in: context, pump: pump) == frames("t.data", "payload"))
            #expect(subscriptionSeen)
            for socket in [sub, xpub, xsub, pub] { socket.close() }
        }
    }

    @Test(arguments: Transport.allCases)
    func requestReplyRoundTrip(transport: Transport) async throws {
        try await withTestContext { context in
            let rep = try context.socket(.rep)
            let endpoint = try transport.bind(rep, in: context)
            let req = try context.socket(.req)
            try req.connect(endpoint)
            try req.send(frames("ping", "1"))
            #expect(try context.receive(rep) == frames("ping", "1"))
            try rep.send(frames("pong"))
            #expect(try context.receive(req) == frames("pong"))
            // REQ must alternate: a second receive-less send is a state error, not would-block.
            #expect(throws: ZMQError.self) {
                try req.send(frames("a"))
                try req.send(frames("b"))
            }
            req.close()
            rep.close()
        }
    }

    @Test(arguments: Transport.allCases)
    func routerAddressesDealersByRoutingID(transport: Transport) async throws {
        try await withTestContext { context in
            let router = try context.socket(.router, options: [.routerMandatory(true)])
            let endpoint = try transport.bind(router, in: context)
            let dealers = try ["worker-a", "worker-b"].map { name in
                let dealer = try context.socket(.dealer, options: [.routingID(Array(name.utf8))])
                try dealer.connect(endpoint)
                return dealer
            }
            try dealers[0].send(frames("hello from a"))
            try dealers[1].send(frames("hello from b"))
            var seen: Set<String> = []
            for _ in 0..<2 {
                let message = try context.receive(router)
                #expect(message.count == 2)
                seen.insert(message[0].string ?? "")
            }
            #expect(seen == ["worker-a", "worker-b"])
            try router.send(frames("worker-b", "for b"))
            #expect(try context.receive(dealers[1]) == frames("for b"))
            let error = #expect(throws: ZMQError.self) { try router.send(frames("nobody", "lost")) }
            #expect(error?.code == .hostUnreachable)
            for socket in dealers + [router] { socket.close() }
        }
    }
}
