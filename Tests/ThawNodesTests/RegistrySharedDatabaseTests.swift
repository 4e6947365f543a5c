import Foundation
import Synchronization
import Testing
import ThawNN

@testable import ThawNodes

/// Two registry processes over one database, reduced to two stores opened on it: whatever each one's
/// memory says, the database decides. Two commits on one parent never both succeed, one batch raced by
/// both is stored once, and another batch under its key is refused by either.
@Suite struct RegistrySharedDatabaseTests {
    typealias F = RegistryFixtures

    /// Opens two stores on one fresh database of `backend`.
    static func withTwoStores(
        _ backend: TestBackend, _ body: (any RegistryBackend, any RegistryBackend) throws -> Void
    ) throws {
        switch backend {
        case .sqlite:
            try withTemporaryRegistry { path in
                let first = try RegistryStore(path: path)
                defer { try? first.close() }
                let second = try RegistryStore(path: path)
                defer { try? second.close() }
                try body(first, second)
            }
        case .postgres:
            try withTemporaryPostgres { url in
                let first = try PostgresRegistryStore(url: url)
                defer { try? first.close() }
                let second = try PostgresRegistryStore(url: url)
                defer { try? second.close() }
                try body(first, second)
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func racingCommitsOnOneParentNeverBothSucceed(_ backend: TestBackend) throws {
        try Self.withTwoStores(backend) { first, second in
            let stores = [first, second]
            for parent in UInt64(0)..<12 {
                let outcomes = Mutex<[Result<CommitOutcome, any Error>]>([])
                DispatchQueue.concurrentPerform(iterations: 2) { index in
                    let commit = F.commit(parent: parent, parameters: [Float(index), Float(parent), 1])
                    let outcome = Result { try stores[index].commitHead(commit) }
                    outcomes.withLock { $0.append(outcome) }
                }
                let results = try outcomes.withLock { $0 }.map { try $0.get() }
                let committed = results.filter { if case .committed = $0 { true } else { false } }
                #expect(committed.count == 1, "parent \(parent): \(results)")
                // The loser learns the winner's version, whichever store it asked.
                #expect(results.contains { if case .conflict(parent + 1, _) = $0 { true } else { false } })
            }
            // Either store reads the same linear history: versions 1…12, each on its predecessor.
            for store in stores {
                let history = try store.headHistory(UserID("writer-1"))
                #expect(history.map(\.version) == Array(1...12))
                #expect(history.map(\.parentVersion) == Array(0...11))
            }
        }
    }

    @Test(arguments: TestBackend.available)
    func oneBatchRacedByTwoRegistriesIsStoredOnceAndAnotherUnderItsKeyIsRefused(_ backend: TestBackend) throws {
        try Self.withTwoStores(backend) { first, second in
            let stores = [first, second]
            for sequence in UInt64(1)...12 {
                let batch = F.batch(sequence: sequence, samples: 3, firstSample: sequence * 10)
                let outcomes = Mutex<[Result<StoreOutcome, any Error>]>([])
                DispatchQueue.concurrentPerform(iterations: 4) { index in
                    let outcome = Result { try stores[index % 2].storeBatch(batch) }
                    outcomes.withLock { $0.append(outcome) }
                }
                let results = try outcomes.withLock { $0 }.map { try $0.get() }
                #expect(results.filter { $0 == .stored(samples: 3) }.count == 1, "seq \(sequence): \(results)")
                #expect(results.filter { $0 == .duplicate }.count == 3)
            }
            let intruder = F.batch(user: "writer-2", sequence: 5, samples: 3, firstSample: 50)
            #expect(throws: RegistryError.self) { try first.storeBatch(intruder) }
            #expect(throws: RegistryError.self) { try second.storeBatch(intruder) }
            let audit = try second.audit()
            #expect(audit.batches == 12 && audit.featureRows == 36)
            #expect(audit.duplicateSamples.isEmpty && audit.inconsistentBatches.isEmpty)
            #expect(audit.conflicts.count == 1)
            // Rows of one user come back in id order from either store, each sample once.
            let rows = try first.features(UserID("writer-1"), stamps: F.stamps, limit: 100)
            #expect(rows.count == 36 && rows.map(\.id) == rows.map(\.id).sorted())
            #expect(Set(rows.map(\.sampleID)).count == 36)
        }
    }
}
