import Testing
@testable import ThawNodes

/// Routing a user's batches to one worker: the same order in every sender, a spread over the pool, and
/// few users moved when the pool changes.
@Suite struct WorkerAffinityTests {
    static let pool = (1...4).map { "ipc:///tmp/thaw/worker-\($0)" }

    @Test func everyUserGetsAPermutationOfThePoolTheSameInEverySender() {
        let a = WorkerAffinity(endpoints: Self.pool)
        let b = WorkerAffinity(endpoints: Self.pool)
        for user in (0..<50).map({ "writer-\($0)" }) {
            let order = a.order(for: user)
            #expect(order.sorted() == Array(Self.pool.indices))
            #expect(order == b.order(for: user))
            // Each miss moves one worker down the order, wrapping.
            #expect((0..<6).map { a.worker(for: user, misses: $0) } == (0..<6).map { order[$0 % 4] })
        }
    }

    /// The rank is FNV-1a 64 over user, a zero byte and endpoint (docs/PROTOCOL.md), checked against a
    /// value computed in Python.
    @Test func theRankIsTheDocumentedHash() {
        let affinity = WorkerAffinity(endpoints: ["tcp://10.0.0.2:5701", "tcp://10.0.0.3:5701"])
        #expect(WorkerAffinity.rank(user: "writer-1", endpoint: "tcp://10.0.0.2:5701") == 0x1f92_be0b_ce8f_e073)
        #expect(affinity.order(for: "writer-1").count == 2)
    }

    @Test func usersSpreadOverThePoolAndFewMoveWhenAWorkerLeaves() {
        let users = (0..<4_000).map { "writer-\($0)" }
        let full = WorkerAffinity(endpoints: Self.pool)
        var load = [0, 0, 0, 0]
        for user in users { load[full.worker(for: user)] += 1 }
        #expect(load.allSatisfy { $0 > 800 && $0 < 1_200 }, "\(load)")
        // Without worker-4, only its users move; everyone else keeps their worker.
        let smaller = WorkerAffinity(endpoints: Array(Self.pool.prefix(3)))
        for user in users where full.worker(for: user) != 3 {
            #expect(smaller.worker(for: user) == full.worker(for: user))
        }
    }
}
