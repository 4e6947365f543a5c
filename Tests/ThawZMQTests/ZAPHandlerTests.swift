import Synchronization
import Testing
import ThawTestKit
import ThawZMQ

/// CURVE servers whose clients pass a ZAP handler (RFC 27), over real tcp sockets.
@Suite struct ZAPHandlerTests {
    /// Counts the handler's decisions (it runs on its own thread).
    final class Decisions: Sendable {
        let accepted = Atomic<Int>(0)
        let refused = Atomic<Int>(0)
    }

    /// A handler that lets in `allowed` as `user` and refuses everyone else.
    static func handler(allowing allowed: String, as user: String, decisions: Decisions) -> @Sendable (ZAPRequest) -> ZAPReply {
        { request in
            if request.domain == "thaw", request.curvePublicKey == allowed {
                decisions.accepted.add(1, ordering: .relaxed)
                return .accept(request, as: user)
            }
            decisions.refused.add(1, ordering: .relaxed)
            return .refuse(request, because: "unlisted")
        }
    }

    /// Up to `count` messages that arrive on `loop` within `timeout`. Ends the loop's inbound stream.
    static func deliveries(_ loop: SocketLoop, count: Int, within timeout: Duration) async throws -> [Delivery] {
        try await withThrowingTaskGroup(of: [Delivery].self) { group in
            group.addTask {
                var received: [Delivery] = []
                for try await delivery in loop.inbound {
                    received.append(delivery)
                    if received.count == count { break }
                }
                return received
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return []
            }
            let first = try await group.next() ?? []
            group.cancelAll()
            return first
        }
    }

    static func firstDelivery(_ loop: SocketLoop, within timeout: Duration) async throws -> Delivery? {
        try await deliveries(loop, count: 1, within: timeout).first
    }

    /// Runs a CURVE PULL server (ZAP enforced) in `context` and a PUSH client with `clientKeys`
    /// that sends "hello"; returns what the server received within `timeout`.
    static func exchange(
        context: ZMQContext, server: CurveKeyPair, clientKeys: CurveKeyPair, timeout: Duration,
        kinds: (server: SocketKind, client: SocketKind) = (.pull, .push)
    ) async throws -> Delivery? {
        let serverSpec = SocketSpec(
            kind: kinds.server, bind: [.loopbackWildcard],
            options: SocketOption.authenticatedCurveServer(keys: server, domain: "thaw"))
        return try await withSocketLoop(context: context, sockets: [serverSpec]) { serverLoop in
            let endpoint = serverLoop.boundEndpoints(of: serverLoop.sockets[0])[0]
            let clientSpec = SocketSpec(
                kind: kinds.client, connect: [endpoint],
                options: SocketOption.curveClient(keys: clientKeys, serverKey: server.publicKey))
            return try await withSocketLoop(context: context, sockets: [clientSpec]) { clientLoop in
                try await clientLoop.send([Frame("hello")], on: clientLoop.sockets[0])
                return try await firstDelivery(serverLoop, within: timeout)
            }
        }
    }

    @Test func aListedClientIsLetInAndItsMessagesCarryTheUserID() async throws {
        let server = try CurveKeyPair.generate()
        let client = try CurveKeyPair.generate()
        let decisions = Decisions()
        let delivery = try await withAsyncTestContext { context, _ in
            try await withZAPHandler(
                context: context,
                authenticate: Self.handler(allowing: client.publicKey, as: "device:phones", decisions: decisions)
            ) {
                try await Self.exchange(context: context, server: server, clientKeys: client, timeout: .seconds(10))
            }
        }
        #expect(delivery?.frames == [Frame("hello")])
        #expect(delivery?.userID == "device:phones")
        #expect(delivery?.metadata.peerAddress == "127.0.0.1")
        #expect(decisions.accepted.load(ordering: .relaxed) == 1)
    }

    @Test func aRouterSeesTheUserIDAlthoughItMakesTheRoutingIDPartItself() async throws {
        let server = try CurveKeyPair.generate()
        let client = try CurveKeyPair.generate()
        let decisions = Decisions()
        let delivery = try await withAsyncTestContext { context, _ in
            try await withZAPHandler(
                context: context,
                authenticate: Self.handler(allowing: client.publicKey, as: "worker:worker", decisions: decisions)
            ) {
                try await Self.exchange(
                    context: context, server: server, clientKeys: client, timeout: .seconds(10),
                    kinds: (.router, .dealer))
            }
        }
        #expect(delivery?.frames.count == 2)
        #expect(delivery?.frames.last == Frame("hello"))
        #expect(delivery?.userID == "worker:worker")
    }

    @Test func anUnlistedClientIsRefusedAndNothingArrives() async throws {
        let server = try CurveKeyPair.generate()
        let listed = try CurveKeyPair.generate()
        let stranger = try CurveKeyPair.generate()
        let decisions = Decisions()
        let delivery = try await withAsyncTestContext { context, _ in
            try await withZAPHandler(
                context: context,
                authenticate: Self.handler(allowing: listed.publicKey, as: "device:phones", decisions: decisions)
            ) {
                try await Self.exchange(context: context, server: server, clientKeys: stranger, timeout: .seconds(2))
            }
        }
        #expect(delivery == nil)
        #expect(decisions.refused.load(ordering: .relaxed) >= 1)
        #expect(decisions.accepted.load(ordering: .relaxed) == 0)
    }

    @Test func withoutAHandlerAnEnforcingServerRefusesEveryone() async throws {
        // Fail closed: libzmq's legacy default would let every CURVE client in without a handler.
        let server = try CurveKeyPair.generate()
        let delivery = try await withAsyncTestContext { context, _ in
            try await Self.exchange(context: context, server: server, clientKeys: try .generate(), timeout: .seconds(2))
        }
        #expect(delivery == nil)
    }

    @Test func aSecondHandlerInTheSameContextIsRefused() async throws {
        try await withAsyncTestContext { context, _ in
            let decisions = Decisions()
            let handler = Self.handler(allowing: "", as: "x", decisions: decisions)
            try await withZAPHandler(context: context, authenticate: handler) {
                await #expect(throws: ZMQError.self) {
                    try await withZAPHandler(context: context, authenticate: handler) {}
                }
            }
        }
    }

    @Test func oneSocketTrustsADifferentServerKeyPerConnection() async throws {
        let first = try CurveKeyPair.generate()
        let second = try CurveKeyPair.generate()
        let client = try CurveKeyPair.generate()
        let received = try await withAsyncTestContext { context, _ in
            let servers = [first, second].map { keys in
                SocketSpec(kind: .pull, bind: [.loopbackWildcard], options: SocketOption.curveServer(keys: keys))
            }
            return try await withSocketLoop(context: context, sockets: servers) { serverLoop in
                let endpoints = serverLoop.sockets.map { serverLoop.boundEndpoints(of: $0)[0] }
                var spec = SocketSpec(kind: .push, connect: endpoints, options: [.immediate(false)])
                spec.connectOptions[endpoints[0]] = SocketOption.curveClient(keys: client, serverKey: first.publicKey)
                spec.connectOptions[endpoints[1]] = SocketOption.curveClient(keys: client, serverKey: second.publicKey)
                return try await withSocketLoop(context: context, sockets: [spec]) { clientLoop in
                    // PUSH round-robins over both connections: each server must get one message,
                    // which it can only decrypt if that connection used its key.
                    try await clientLoop.send([Frame("a")], on: clientLoop.sockets[0])
                    try await clientLoop.send([Frame("b")], on: clientLoop.sockets[0])
                    let received = try await Self.deliveries(serverLoop, count: 2, within: .seconds(10))
                    return Set(received.map(\.socket.index))
                }
            }
        }
        #expect(received == [0, 1])
    }

    @Test func requestsParseAndMalformedOnesAreReported() throws {
        let key = try CurveKeyPair.generate()
        let binary = try #require(CurveKeyPair.binaryKey(fromZ85: key.publicKey))
        let request = ZAPRequest(
            requestID: [1, 2], domain: "thaw", address: "10.0.0.7", mechanism: "CURVE", credentials: [binary])
        let parsed = try ZAPRequest(frames: request.frames)
        #expect(parsed == request)
        #expect(parsed.curvePublicKey == key.publicKey)
        #expect(throws: ZAPProtocolError.self) { try ZAPRequest(frames: [Array("1.0".utf8), [1]]) }
        var wrongVersion = request.frames
        wrongVersion[0] = Array("2.0".utf8)
        #expect(throws: ZAPProtocolError.self) { try ZAPRequest(frames: wrongVersion) }
        let reply = ZAPReply.accept(parsed, as: "device:phones")
        #expect(reply.frames.map(\.bytes) == [Array("1.0".utf8), [1, 2], Array("200".utf8), Array("OK".utf8),
                                              Array("device:phones".utf8), []])
    }

    @Test func secretKeysDeriveTheirPublicHalfAndBadKeysAreRefused() throws {
        let keys = try CurveKeyPair.generate()
        #expect(try CurveKeyPair(secretKey: keys.secretKey) == keys)
        #expect(!CurveKeyPair.isValidKey("short"))
        #expect(!CurveKeyPair.isValidKey(String(repeating: "~", count: 40)))
        #expect(throws: ZMQError.self) { try CurveKeyPair(secretKey: "not a key") }
        #expect(!"\(keys)".contains(keys.secretKey))
    }
}
