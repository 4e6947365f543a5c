import Foundation
import Testing
import ThawModel
import ThawNN
@testable import ThawNodes

@Suite struct ModelRegistryStateMachineTests {
    typealias F = RegistryFixtures

    @Test func requestsMapToStoreOperationsAndTypedReplies() throws {
        try withTemporaryStore { store throws in
            let registry = RegistryStoreHandler(store: store)
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
            let registry = RegistryStoreHandler(store: store)
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

@Suite struct HeadHashVerificationTests {
    @Test func aHeadPassesOnlyWithItsOwnContentHash() throws {
        let architecture = ModelArchitecture.mlpHead(inputs: 4, hidden: 3, depth: 1, classes: 2)
        let contract = ModelContract(architecture)
        let head = [Float](repeating: 0.25, count: architecture.parameterCount(layers: 2..<architecture.layerCount))
        let hash = ContentHash.head(parameters: head, freezePoint: FreezePoint(2), architecture: architecture).hex
        try contract.checkHead(parameters: head, claimedHash: hash, freezePoint: 2, what: "head")
        try contract.checkHead(parameters: head, claimedHash: hash.uppercased(), freezePoint: 2, what: "head")

        func reason(_ parameters: [Float], _ claimed: String, k: UInt32 = 2) -> InputViolation.Reason? {
            do {
                try contract.checkHead(parameters: parameters, claimedHash: claimed, freezePoint: k, what: "head")
                return nil
            } catch let violation as InputViolation {
                return violation.reason
            } catch {
                return nil
            }
        }
        var tampered = head
        tampered[0] += 1
        #expect(reason(tampered, hash) == .hashMismatch)
        #expect(reason(head, "not-a-hash") == .hashMismatch)
        #expect(reason(head + [1], hash) == .wrongShape)
        #expect(reason(head, hash, k: 9) == .freezePointOutOfRange)
    }
}

@Suite struct BaseModelUploadTests {
    static func checkpoint(version: UInt64, seed: UInt64) -> (bytes: [UInt8], hash: String) {
        let model = Model(architecture: .mlpHead(inputs: 4, hidden: 3, depth: 1, classes: 2), seed: seed)
        return (ModelCheckpoint.encode(model, version: ModelVersion(version)), ContentHash.model(model).hex)
    }

    @Test func onlyACheckpointWithItsClaimedVersionAndHashIsStored() throws {
        try withTemporaryStore { store throws in
            let registry = RegistryStoreHandler(store: store)
            let (bytes, hash) = Self.checkpoint(version: 2, seed: 1)
            func code(_ reply: RegistryReply) -> RegistryError.Code? {
                if case .rejected(let error) = reply { error.code } else { nil }
            }
            #expect(
                try registry.handle(.storeBaseModel(version: ModelVersion(2), hash: hash, checkpoint: bytes))
                    == .baseModelStored(ModelVersion(2), hash: hash, alreadyPresent: false))
            #expect(
                try registry.handle(.storeBaseModel(version: ModelVersion(2), hash: hash.uppercased(), checkpoint: bytes))
                    == .baseModelStored(ModelVersion(2), hash: hash, alreadyPresent: true))
            #expect(try store.baseModel(ModelVersion(2))?.blob == Data(bytes))

            let other = Self.checkpoint(version: 2, seed: 2)
            #expect(
                code(try registry.handle(.storeBaseModel(version: ModelVersion(2), hash: other.hash, checkpoint: other.bytes)))
                    == .baseModelConflict)
            #expect(
                code(try registry.handle(.storeBaseModel(version: ModelVersion(3), hash: hash, checkpoint: bytes)))
                    == .invalidModel)
            #expect(
                code(try registry.handle(.storeBaseModel(version: ModelVersion(2), hash: other.hash, checkpoint: bytes)))
                    == .hashMismatch)
            var corrupt = bytes
            corrupt[corrupt.count / 2] ^= 0xFF
            #expect(
                code(try registry.handle(.storeBaseModel(version: ModelVersion(2), hash: hash, checkpoint: corrupt)))
                    == .invalidModel)
            #expect(try store.latestBaseModelVersion() == ModelVersion(2))
        }
    }
}
