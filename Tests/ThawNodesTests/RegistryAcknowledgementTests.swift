import Foundation
import Testing
import ThawNN
import ThawNodes

/// A device drops a batch from its outbox only once it is trained into a head; the audit finds stored
/// batches that no head contains and samples stored twice.
@Suite struct RegistryAcknowledgementTests {
    typealias F = RegistryFixtures
    static let device = DeviceID("phone-1")

    func acknowledged(_ store: any RegistryBackend, freezePoint: Int = 2) throws -> [UInt64] {
        try store.acknowledgedSequences(
            device: Self.device, modelVersion: ModelVersion(1), freezePoint: FreezePoint(freezePoint))
    }

    @Test(arguments: TestBackend.available) func aStoredBatchIsAcknowledgedOnlyOnceAHeadIsTrainedOnIt(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            _ = try store.storeBatch(F.batch(sequence: 1, samples: 3, firstSample: 0))
            #expect(try acknowledged(store).isEmpty)
            #expect(try !store.isTrained(device: Self.device, sequence: 1))
            // A head trained on the first 3 rows covers batch 1.
            _ = try store.commitHead(F.commit(parent: 0, samples: 3))
            #expect(try acknowledged(store) == [1])
            #expect(try store.isTrained(device: Self.device, sequence: 1))
            // Batch 2 is stored after that head: not acknowledged until a head with 5 rows exists.
            _ = try store.storeBatch(F.batch(sequence: 2, samples: 2, firstSample: 10))
            #expect(try acknowledged(store) == [1])
            #expect(try !store.isTrained(device: Self.device, sequence: 2))
            _ = try store.commitHead(F.commit(parent: 1, samples: 5))
            #expect(try acknowledged(store) == [1, 2])
        }
    }

    @Test(arguments: TestBackend.available) func batchesOfAnotherDeploymentAreAcknowledgedSoTheDeviceStopsWaitingForThem(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            _ = try store.storeBatch(F.batch(sequence: 1, samples: 3))
            // The device moved to k=3: its k=2 batch will never be trained at k=3, and it re-sends its
            // samples under new stamps anyway.
            #expect(try acknowledged(store, freezePoint: 3) == [1])
            #expect(try acknowledged(store, freezePoint: 2).isEmpty)
        }
    }

    @Test(arguments: TestBackend.available) func theAuditFindsUntrainedBatchesAndSamplesStoredTwice(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            _ = try store.storeBatch(F.batch(sequence: 1, samples: 3, firstSample: 0))
            _ = try store.commitHead(F.commit(parent: 0, samples: 3))
            var audit = try store.audit()
            #expect(audit.untrained.isEmpty && audit.duplicateSamples.isEmpty)
            #expect(audit.batches == 1 && audit.heads == 1 && audit.latestHeadVersions == ["writer-1": 1])
            // The same samples again under a new sequence number: stored twice, and not yet trained.
            _ = try store.storeBatch(F.batch(sequence: 2, samples: 3, firstSample: 0))
            audit = try store.audit()
            #expect(audit.untrained == ["phone-1#2"])
            #expect(audit.duplicateSamples.count == 3)
            #expect(audit.sequencesByDevice == ["phone-1": [1, 2]])
        }
    }
}
