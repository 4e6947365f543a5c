import Foundation
import Synchronization
import Testing
import ThawNN

@testable import ThawNodes

/// The storage threads: queued writes are grouped into transactions and every operation is answered
/// once, after its transaction committed; reads run beside them.
@Suite struct RegistryStorageTests {
    typealias F = RegistryFixtures

    @Test(arguments: TestBackend.available) func queuedWritesAreGroupCommittedAndEachAnsweredOnce(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            let results = Mutex<[UInt64: ModelRegistryStateMachine.StoreResult]>([:])
            let storage = RegistryStorage(store: store, idleCheckpoint: .milliseconds(50)) { ticket, result in
                results.withLock { $0[ticket] = result }
            }
            var ticket: UInt64 = 0
            for sequence in UInt64(1)...40 {
                let batch = F.batch(sequence: sequence, samples: 2, firstSample: sequence * 10)
                ticket += 1
                storage.submit(ticket, .storeBatch(batch, BatchFingerprint(batch)))
            }
            // A redelivery, another user's batch under a used key, and a read, all queued behind them.
            let again = F.batch(sequence: 3, samples: 2, firstSample: 30)
            storage.submit(100, .storeBatch(again, BatchFingerprint(again)))
            let other = F.batch(user: "writer-2", sequence: 4, samples: 2, firstSample: 40)
            storage.submit(101, .storeBatch(other, BatchFingerprint(other)))
            storage.submit(102, .readFeatures(FeatureQuery(user: UserID("writer-1"), stamps: F.stamps, limit: 1000)))
            storage.finish()

            let answered = results.withLock { $0 }
            #expect(answered.count == 43)
            for ticket in UInt64(1)...40 {
                guard case .batch(.stored(2, _, _))? = answered[ticket] else {
                    Issue.record("ticket \(ticket): \(String(describing: answered[ticket]))")
                    continue
                }
            }
            guard case .batch(.duplicate)? = answered[100] else {
                Issue.record("the redelivery: \(String(describing: answered[100]))")
                return
            }
            guard case .batch(.conflict(let detail))? = answered[101] else {
                Issue.record("the conflict: \(String(describing: answered[101]))")
                return
            }
            #expect(detail.contains("writer-1"))
            #expect(try store.durableSequences(device: DeviceID("phone-1")) == Array(1...40))
            #expect(try store.audit().conflicts.count == 1)
            // The read ran on its own thread: it saw a consistent snapshot (whole batches only).
            guard case .features(let rows)? = answered[102] else {
                Issue.record("the read: \(String(describing: answered[102]))")
                return
            }
            #expect(rows.count % 2 == 0)
        }
    }
}
