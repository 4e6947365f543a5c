import Foundation
import Synchronization
import Testing
import ThawNN
import GRDB

@testable import ThawNodes

@Suite struct RegistryStoreTests {
    typealias F = RegistryFixtures

    @Test(arguments: TestBackend.available) func duplicateBatchIsStoredOnce(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            let batch = F.batch(samples: 3)
            #expect(try store.storeBatch(batch) == .stored(samples: 3))
            #expect(try store.storeBatch(batch) == .duplicate)
            #expect(try store.featureCount(batch.user, stamps: F.stamps) == 3)
            #expect(try store.durableSequences(device: batch.device) == [1])
            #expect(store.counters.batchesStored == 1)
            #expect(store.counters.duplicates == 1)
        }
    }

    @Test func aNewDatabaseUsesLargePagesAndAnOldOneKeepsItsOwn() throws {
        func pageSize(_ path: String) throws -> Int {
            let queue = try DatabaseQueue(path: path)
            defer { try? queue.close() }
            return try queue.read { try Int.fetchOne($0, sql: "PRAGMA page_size") ?? 0 }
        }
        try withTemporaryRegistry { path in
            let store = try RegistryStore(path: path)
            #expect(try store.storeBatch(F.batch(samples: 2)) == .stored(samples: 2))
            try store.close()
            #expect(try pageSize(path) == RegistryStore.pageSize)
        }
        try withTemporaryRegistry { path in
            // A file created by an older build (4 KiB pages, already in WAL mode) opens as it is.
            let queue = try DatabaseQueue(path: path)
            try queue.writeWithoutTransaction { db in
                try db.execute(sql: "PRAGMA page_size = 4096; PRAGMA journal_mode = WAL")
                try db.execute(sql: "CREATE TABLE older (x INTEGER)")
            }
            try queue.close()
            let store = try RegistryStore(path: path)
            #expect(try store.storeBatch(F.batch(samples: 2)) == .stored(samples: 2))
            try store.close()
            #expect(try pageSize(path) == 4096)
        }
    }

    @Test(arguments: TestBackend.available) func concurrentStoresOfOneBatchStoreItOnce(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            let batch = F.batch(samples: 4)
            let outcomes = StoreOutcomeCollector()
            DispatchQueue.concurrentPerform(iterations: 8) { _ in
                outcomes.append(Result { try store.storeBatch(batch) })
            }
            let results = try outcomes.all.map { try $0.get() }
            #expect(results.filter { $0 == .stored(samples: 4) }.count == 1)
            #expect(results.filter { $0 == .duplicate }.count == 7)
            #expect(try store.featureCount(batch.user, stamps: F.stamps) == 4)
        }
    }

    struct InvalidBatch: Sendable, CustomTestStringConvertible {
        var name: String
        var batch: FeatureBatch
        var code: RegistryError.Code
        var testDescription: String { name }
    }

    static let invalidBatches = [
        InvalidBatch(
            name: "shape", batch: F.batchWith(StoredActivations(shape: [2, 3], scalars: [1, 2, 3])), code: .invalidShape
        ),
        InvalidBatch(
            name: "nan", batch: F.batchWith(StoredActivations(shape: [2], scalars: [1, .nan])), code: .nonFiniteValue),
        InvalidBatch(
            name: "zero-dim", batch: F.batchWith(StoredActivations(shape: [0], scalars: [])), code: .invalidShape),
        InvalidBatch(name: "empty", batch: F.batch(samples: 0), code: .emptyBatch),
        InvalidBatch(name: "repeated-id", batch: F.batchRepeatingSampleID(), code: .duplicateSample),
    ]

    @Test(arguments: invalidBatches)
    func invalidBatchesAreRefusedAndNothingIsWritten(_ invalid: InvalidBatch) throws {
        try withTemporaryStore { store throws in
            let error = #expect(throws: RegistryError.self) { try store.storeBatch(invalid.batch) }
            #expect(error?.code == invalid.code)
            #expect(try store.durableSequences(device: invalid.batch.device).isEmpty)
        }
    }

    @Test(arguments: TestBackend.available) func commitIsCompareAndSetOnTheParentVersion(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            let first = try store.commitHead(F.commit(parent: 0))
            guard case .committed(1, let hash1) = first else {
                Issue.record("expected version 1, got \(first)")
                return
            }
            // A second worker that also trained on "no head" loses.
            #expect(try store.commitHead(F.commit(parent: 0)) == .conflict(currentVersion: 1, currentHash: hash1))
            guard case .committed(2, _) = try store.commitHead(F.commit(parent: 1)) else {
                Issue.record("expected version 2")
                return
            }
            #expect(try store.commitHead(F.commit(parent: 7)).isConflict(at: 2))
            let history = try store.headHistory(UserID("writer-1"))
            #expect(history.map(\.version) == [1, 2])
            #expect(history.map(\.parentVersion) == [0, 1])
            #expect(store.counters.commits == 2)
            #expect(store.counters.conflicts == 2)
        }
    }

    @Test(arguments: TestBackend.available) func nonFiniteHeadIsRefused(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            let error = #expect(throws: RegistryError.self) {
                try store.commitHead(F.commit(parent: 0, parameters: [1, .infinity]))
            }
            #expect(error?.code == .nonFiniteValue)
            #expect(try store.latestHead(UserID("writer-1")) == nil)
        }
    }

    @Test(arguments: TestBackend.available) func headReadIsNotModifiedWhenTheHashMatches(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            let user = UserID("writer-1")
            _ = try store.commitHead(F.commit(parent: 0))
            let first = try store.head(
                user, ifNoneMatch: nil, modelVersion: ModelVersion(1), freezePoint: FreezePoint(2))
            guard case .head(let head) = first else {
                Issue.record("expected a head, got \(first)")
                return
            }
            #expect(head.parameters == [1, 2, 3])
            #expect(
                try store.head(user, ifNoneMatch: head.hash, modelVersion: ModelVersion(1), freezePoint: FreezePoint(2))
                    == .notModified(version: 1, hash: head.hash))
            _ = try store.commitHead(F.commit(parent: 1, parameters: [4, 5, 6]))
            let newer = try store.head(
                user, ifNoneMatch: head.hash, modelVersion: ModelVersion(1), freezePoint: FreezePoint(2))
            guard case .head(let second) = newer else {
                Issue.record("expected the newer head, got \(newer)")
                return
            }
            #expect(second.version == 2 && second.hash != head.hash && second.parameters == [4, 5, 6])
        }
    }

    @Test(arguments: TestBackend.available) func staleHeadIsNeverServed(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            let user = UserID("writer-1")
            #expect(
                try store.head(user, ifNoneMatch: nil, modelVersion: ModelVersion(1), freezePoint: FreezePoint(2))
                    == .noHead)
            _ = try store.commitHead(F.commit(parent: 0))
            let stale = HeadLookup.stale(latestVersion: 1, latestStamps: F.stamps)
            // Another freeze point, another model version, other hyper-parameters: refused.
            #expect(
                try store.head(user, ifNoneMatch: nil, modelVersion: ModelVersion(1), freezePoint: FreezePoint(3))
                    == stale)
            #expect(
                try store.head(user, ifNoneMatch: nil, modelVersion: ModelVersion(2), freezePoint: FreezePoint(2))
                    == stale)
            #expect(
                try store.head(
                    user, ifNoneMatch: nil, modelVersion: ModelVersion(1), freezePoint: FreezePoint(2),
                    hyperParameterHash: "hyper-b") == stale)
            // Even the caller's own (matching) hash does not turn a stale head into "not modified".
            let hash = try #require(try store.latestHead(user)).hash
            #expect(
                try store.head(user, ifNoneMatch: hash, modelVersion: ModelVersion(1), freezePoint: FreezePoint(3))
                    == stale)
            #expect(store.counters.staleHeadReads == 4)
        }
    }

    @Test func reopeningTheFileKeepsEverything() throws {
        try withTemporaryRegistry { path throws in
            let user = UserID("writer-1")
            do {
                let store = try RegistryStore(path: path)
                try store.putBaseModel(version: ModelVersion(1), hash: "abc", blob: Data([1, 2, 3]))
                _ = try store.storeBatch(F.batch(sequence: 1))
                _ = try store.storeBatch(F.batch(sequence: 2, firstSample: 10))
                _ = try store.commitHead(F.commit(parent: 0))
                _ = try store.commitHead(F.commit(parent: 1, parameters: [9, 8, 7]))
                try store.close()
            }
            let reopened = try RegistryStore(path: path)
            defer { try? reopened.close() }
            #expect(try reopened.baseModel(ModelVersion(1))?.blob == Data([1, 2, 3]))
            #expect(try reopened.durableSequences(device: DeviceID("phone-1")) == [1, 2])
            #expect(try reopened.storeBatch(F.batch(sequence: 2, firstSample: 10)) == .duplicate)
            #expect(try reopened.featureCount(user, stamps: F.stamps) == 6)
            let features = try reopened.features(user, stamps: F.stamps, limit: 10)
            #expect(features.first?.activations == StoredActivations(shape: [2, 2], scalars: [0, 1, 2, 3]))
            #expect(try reopened.latestHead(user)?.parameters == [9, 8, 7])
            #expect(try reopened.commitHead(F.commit(parent: 1)).isConflict(at: 2))
            #expect(try reopened.headHistory(user).map(\.version) == [1, 2])
        }
    }

    @Test(arguments: TestBackend.available) func baseModelVersionsAreImmutable(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            #expect(try store.putBaseModel(version: ModelVersion(3), hash: "h3", blob: Data([7])) == .inserted)
            #expect(try store.putBaseModel(version: ModelVersion(3), hash: "h3", blob: Data([7])) == .alreadyPresent)
            let error = #expect(throws: RegistryError.self) {
                try store.putBaseModel(version: ModelVersion(3), hash: "other", blob: Data([8]))
            }
            #expect(error?.code == .baseModelConflict)
            #expect(try store.baseModel(ModelVersion(3))?.hash == "h3")
            #expect(try store.baseModel(ModelVersion(4)) == nil)
            #expect(try store.latestBaseModelVersion() == ModelVersion(3))
        }
    }

    @Test(arguments: TestBackend.available) func featurePagesFollowTheCursorAndFilterOnStamps(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            let user = UserID("writer-1")
            _ = try store.storeBatch(F.batch(sequence: 1, samples: 5))
            let other = FeatureStamps(
                modelVersion: ModelVersion(1), freezePoint: FreezePoint(3), hyperParameterHash: F.hyper)
            _ = try store.storeBatch(F.batch(sequence: 2, samples: 4, stamps: other, firstSample: 100))
            let page1 = try store.features(user, stamps: F.stamps, limit: 3)
            let page2 = try store.features(user, stamps: F.stamps, after: try #require(page1.last).id, limit: 3)
            #expect(page1.map(\.sampleID) == [0, 1, 2])
            #expect(page2.map(\.sampleID) == [3, 4])
            #expect(try store.features(user, stamps: other, limit: 10).count == 4)
        }
    }

    @Test(arguments: TestBackend.available) func aStoredBatchReportsItsRowIdsAndAListingNamesRowsWithoutValues(
        _ backend: TestBackend
    ) throws {
        try withTemporaryStore(backend) { store throws in
            let user = UserID("writer-1")
            let first = try store.applyWrites([.storeBatch(F.batch(sequence: 1, samples: 3), BatchFingerprint(F.batch(sequence: 1, samples: 3)))])
            let second = F.batch(sequence: 2, samples: 2, firstSample: 10)
            let written = try store.applyWrites([.storeBatch(second, BatchFingerprint(second))])
            guard case .batch(.stored(_, let lastRow, let rowIDs)) = written.first,
                case .batch(.stored(_, _, let firstIDs)) = first.first
            else {
                Issue.record("expected two stored batches, got \(first) and \(written)")
                return
            }
            // Each sample's row id, in the batch's order, the last one the batch's last row.
            #expect(firstIDs.count == 3 && rowIDs.count == 2 && rowIDs.last == lastRow)
            let window = try store.featureWindow(user, stamps: F.stamps, after: 0, limit: 10)
            let listing = try store.featureListing(user, stamps: F.stamps, after: 0, limit: 10)
            #expect(window.map(\.id) == firstIDs + rowIDs)
            #expect(listing.map(\.id) == window.map(\.id))
            #expect(listing.map(\.sampleID) == window.map(\.sampleID) && listing.map(\.label) == window.map(\.label))
            #expect(listing.allSatisfy { $0.activations.scalars.isEmpty && $0.activations.shape.isEmpty })
            // The window's rules hold: after a cursor, and the newest `limit` when more match.
            #expect(try store.featureListing(user, stamps: F.stamps, after: firstIDs[0], limit: 2).map(\.id) == rowIDs)
        }
    }
}

extension RegistryFixtures {
    static func batchWith(_ activations: StoredActivations) -> FeatureBatch {
        var batch = batch(samples: 1)
        batch.samples[0].activations = activations
        return batch
    }

    static func batchRepeatingSampleID() -> FeatureBatch {
        var batch = batch(samples: 2)
        batch.samples[1].sampleID = batch.samples[0].sampleID
        return batch
    }
}

extension CommitOutcome {
    func isConflict(at version: UInt64) -> Bool {
        if case .conflict(version, _) = self { return true }
        return false
    }
}

/// Collects results from `concurrentPerform` threads.
final class StoreOutcomeCollector: Sendable {
    private let box = Mutex<[Result<StoreOutcome, any Error>]>([])
    func append(_ result: Result<StoreOutcome, any Error>) { box.withLock { $0.append(result) } }
    var all: [Result<StoreOutcome, any Error>] { box.withLock { $0 } }
}
