import Foundation
import ThawNN
import ThawNodes
import ThawWire
import ThawZMQ

/// Full head pulls against the registries, as fast as they answer: the head-pull rate of
/// `thaw bench system --database`. Each request has an empty `have_hash`, so every answer is a HEAD reply
/// carrying the user's parameters, read from the database (the registry answers only NOT_MODIFIED,
/// NO_HEAD and STALE from memory). `window` requests are in flight at once over one DEALER connected to
/// every registry, round-robin; users are taken in turn.
enum HeadPullLoad {
    struct Result: Sendable {
        var pulls: Int
        var seconds: Double
        var failures: Int
    }

    static func run(
        registries: [Endpoint], users: [(user: String, device: String)], state: DeploymentState, window: Int,
        duration: Duration
    ) async throws -> Result {
        precondition(!users.isEmpty && window > 0, "a head-pull load needs users and a positive window")
        let context = try ZMQContext()
        defer { try? context.shutdown() }
        let spec = SocketSpec(
            kind: .dealer, connect: registries, options: [.maxMessageSize(64 << 20), .immediate(true)])
        return try await withSocketLoop(context: context, sockets: [spec]) { loop in
            let dealer = loop.sockets[0]
            var stamper = EnvelopeStamper(sender: "bench-pull")
            var next = 0
            func request() throws -> [Frame] {
                let (user, device) = users[next % users.count]
                next += 1
                return try stamper.encode(
                    .headRequest(
                        HeadRequest(
                            userID: user, deviceID: device, haveHash: "", modelVersion: state.modelVersion.number,
                            freezePoint: UInt32(state.freezePoint.index))))
            }
            let started = ContinuousClock.now
            for _ in 0..<window { try await loop.send(try request(), on: dealer) }
            var pulls = 0
            var failures = 0
            var inFlight = window
            for try await delivery in loop.inbound where delivery.socket == dealer {
                inFlight -= 1
                if case .headReply(let reply) = try WireCodec.decode(delivery.frames.map(\.bytes)).message,
                    reply.status == .head
                {
                    pulls += 1
                } else {
                    failures += 1
                }
                if ContinuousClock.now - started < duration {
                    try await loop.send(try request(), on: dealer)
                    inFlight += 1
                } else if inFlight == 0 {
                    break
                }
            }
            return Result(pulls: pulls, seconds: SystemBenchmark.seconds(ContinuousClock.now - started), failures: failures)
        }
    }
}
