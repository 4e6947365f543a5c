import Foundation
import Testing
import ThawNN
import ThawNodes

@Suite struct ModelRegistryStateMachineTests {
    typealias F = RegistryFixtures

    @Test func requestsMapToStoreOperationsAndTypedReplies() throws {
        try withTemporaryStore { store throws in
            let registry = ModelRegistryStateMachine(store: store)
            let batch = F.batch(samples: 2)
            #expect(
                try registry.handle(.storeBatch(batch))
                    == .batchStored(device: batch.device, sequence: 1, duplicate: false))
            #expect(
                try registry.handle(.storeBatch(batch))
                    == .batchStored(device: batch.device, sequence: 1, duplicate: true))
            #expect(try registry.handle(.durableSequences(batch.device)) == .durableSequences(batch.device, [1]))
            #expect(try registry.handle(.latestHead(batch.user)) == .latestHead(batch.user, nil))

            let commitReply = try registry.handle(.commit(F.commit(parent: 0, samples: 2)))
            guard case .commit(.committed(1, let hash)) = commitReply else {
                Issue.record("expected a commit, got \(commitReply)")
                return
            }
            let query = HeadQuery(
                user: batch.user, device: batch.device, haveHash: hash, modelVersion: ModelVersion(1),
                freezePoint: FreezePoint(2))
            #expect(try registry.handle(.headRequest(query)) == .head(.notModified(version: 1, hash: hash)))

            let page = try registry.handle(.featureFetch(FeatureQuery(user: batch.user, stamps: F.stamps, limit: 1)))
            guard case .features(let rows, let next) = page else {
                Issue.record("expected features, got \(page)")
                return
            }
            #expect(rows.count == 1 && next == rows.first?.id)
            let last = try registry.handle(
                .featureFetch(FeatureQuery(user: batch.user, stamps: F.stamps, after: try #require(next), limit: 5)))
            guard case .features(let tail, nil) = last else {
                Issue.record("expected the last page, got \(last)")
                return
            }
            #expect(tail.count == 1)

            #expect(try registry.handle(.baseModelRequest(ModelVersion(9))) == .baseModel(ModelVersion(9), nil))
        }
    }

    @Test func invalidValuesBecomeRejectedReplies() throws {
        try withTemporaryStore { store throws in
            let registry = ModelRegistryStateMachine(store: store)
            let reply = try registry.handle(.storeBatch(F.batch(samples: 0)))
            guard case .rejected(let error) = reply else {
                Issue.record("expected a rejection, got \(reply)")
                return
            }
            #expect(error.code == .emptyBatch)
            let page = try registry.handle(.featureFetch(FeatureQuery(user: UserID("u"), stamps: F.stamps, limit: 0)))
            guard case .rejected(let pageError) = page else {
                Issue.record("expected a rejection, got \(page)")
                return
            }
            #expect(pageError.code == .valueOutOfRange)
        }
    }
}
