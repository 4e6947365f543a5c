import Foundation
import Logging
import Testing
import ThawModel
import ThawNN
import ThawWire

@testable import ThawNodes

/// The two correctness bugs of issue #12, through the registry's real request path (machine + store,
/// operations run inline) on a temporary database. Each failed on the code before the fix.
@Suite struct RegistryIssue12Tests {
    typealias M = RegistryMachineTests

    /// A registry on a fresh store with base model v1 (the tiny architecture of ``RegistryMachineTests``).
    static func withRegistry(
        _ backend: TestBackend,
        _ body: (_ answer: (ThawMessage, UInt64) -> ThawMessage, _ store: any RegistryBackend) throws -> Void
    ) throws {
        try withTemporaryStore(backend) { store throws in
            let parameters = [Float](repeating: 0.1, count: M.architecture.parameterCount)
            let blob = ModelCheckpoint.encode(
                .init(architecture: M.architecture, version: ModelVersion(1), parameters: parameters))
            _ = try store.putBaseModel(version: ModelVersion(1), hash: "m", blob: Data(blob))
            var machine = ModelRegistryStateMachine(
                index: try store.loadIndex(), contracts: try RegistryNode.loadContracts(store))
            let refusals = InputRefusals(logger: Logger(label: "test"))
            func answer(_ message: ThawMessage, _ id: UInt64) -> ThawMessage {
                let frames = try! WireCodec.encode(
                    message, metadata: WireMetadata(sender: "t", sequence: id, sentAtUnixMs: 1))
                return RegistryNode.reply(to: frames, from: nil, machine: &machine, store: store, refusals: refusals)
                    ?? .errorReply(ErrorReply(code: .internal, message: "no reply"))
            }
            try body(answer, store)
        }
    }

    static func commit(parent: UInt64, samples: UInt64, consumed: [UInt64], seed: Float) -> ThawMessage {
        let parameters = (0..<18).map { Float($0) * 0.01 + seed }
        let hash = ContentHash.head(parameters: parameters, freezePoint: FreezePoint(2), architecture: M.architecture)
            .hex
        return .headCommit(
            ThawWire.HeadCommit(
                userID: "alice", parentVersion: parent, modelVersion: 1, freezePoint: 2, hyperHash: "h", headHash: hash,
                consumed: consumed.map { BatchRef(deviceID: "phone-1", deviceSeq: $0) },
                metrics: TrainingMetrics(loss: 0.1, samples: samples, steps: 1),
                headParameters: WireTensor(flat: parameters)))
    }

    /// Bug 1: past `max_samples` rows a fetch returned the user's *oldest* rows, so a new batch never
    /// entered a head, was never acknowledged, and was re-sent (and retrained, and recommitted) forever.
    @Test(arguments: TestBackend.available) func pastMaxSamplesANewBatchReachesTheNextHeadAndIsAcknowledged(_ backend: TestBackend) throws {
        try Self.withRegistry(backend) { answer, store throws in
            for seq in UInt64(1)...5 {
                let samples = (0..<UInt64(3)).map { seq * 10 + $0 }
                guard case .featureStored = answer(M.batch(seq: seq, samples: samples), seq) else {
                    Issue.record("batch \(seq) not stored")
                    return
                }
            }
            // A worker with max_samples 6 fetches: it gets the newest 6 rows, oldest first, with row ids.
            let fetched = answer(
                .featureFetch(
                    FeatureFetch(userID: "alice", modelVersion: 1, freezePoint: 2, maxSamples: 6, hyperHash: "h")), 10)
            guard case .featureSet(let set) = fetched else {
                Issue.record("expected a FeatureSet, got \(fetched)")
                return
            }
            #expect(set.sampleIDs == [40, 41, 42, 50, 51, 52])
            #expect(set.rowIDs.count == 6 && set.rowIDs == set.rowIDs.sorted())
            // Incremental: after the 4th batch's last row only the 5th batch's rows come.
            guard
                case .featureSet(let tail) = answer(
                    .featureFetch(
                        FeatureFetch(
                            userID: "alice", modelVersion: 1, freezePoint: 2, maxSamples: 6, hyperHash: "h",
                            afterRow: set.rowIDs[2])), 11)
            else {
                Issue.record("expected a FeatureSet")
                return
            }
            #expect(tail.sampleIDs == [50, 51, 52])

            // The worker that stored batch 5 trains on those 6 rows and commits, naming batch 5 consumed.
            guard case .commitAck(let ack) = answer(Self.commit(parent: 0, samples: 6, consumed: [5], seed: 0), 12)
            else {
                Issue.record("commit refused")
                return
            }
            #expect(ack.version == 1)
            guard case .headReply(let reply) = answer(M.headRequest(have: ""), 13) else {
                Issue.record("expected a HeadReply")
                return
            }
            #expect(reply.status == .head)
            #expect(reply.durableSeqs.contains(5), "the newest batch is acknowledged: \(reply.durableSeqs)")
            // A redelivery of batch 5 is now "nothing to do".
            guard case .featureStored(let again) = answer(M.batch(seq: 5, samples: [50, 51, 52]), 14) else {
                Issue.record("expected FeatureStored")
                return
            }
            #expect(again.duplicate)
            #expect(try store.audit().untrained.allSatisfy { $0 != "phone-1#5" })
        }
    }

    /// Bug 2: user B's batch under a `(device, seq)` user A had used was answered `duplicate`, listed in
    /// B's `durable_seqs`, and `thaw ctl audit` found nothing wrong.
    @Test(arguments: TestBackend.available) func anotherUsersBatchUnderAUsedKeyIsRefusedAndTheAuditShowsIt(_ backend: TestBackend) throws {
        try Self.withRegistry(backend) { answer, store throws in
            guard case .featureStored = answer(M.batch(user: "alice", seq: 1), 1) else {
                Issue.record("alice's batch not stored")
                return
            }
            let refused = answer(M.batch(user: "bob", seq: 1), 2)
            guard case .errorReply(let error) = refused else {
                Issue.record("bob's batch was acknowledged: \(refused)")
                return
            }
            #expect(error.inReplyToSequence == 2 && error.message.contains("batchConflict"))
            guard case .headReply(let bob) = answer(M.headRequest(user: "bob"), 3) else {
                Issue.record("expected a HeadReply")
                return
            }
            #expect(bob.durableSeqs.isEmpty)
            let audit = try store.audit()
            #expect(audit.conflicts.count == 1 && audit.conflicts[0].contains("phone-1#1"))
            #expect(!audit.isClean)
            // The store refuses it on its own too (a second registry process, a tool).
            var bobsBatch = RegistryWireAdapter.featureBatch(
                { if case .featureBatch(let b) = M.batch(user: "bob") { b } else { fatalError() } }())
            bobsBatch.sequence = 1
            #expect(throws: RegistryError.self) { try store.storeBatch(bobsBatch) }
        }
    }

    @Test(arguments: TestBackend.available) func supersededHeadsArePrunedBeyondTheConfiguredCountAndTheAuditStaysClean(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            for parent in UInt64(0)..<6 {
                let commit = RegistryFixtures.commit(parent: parent, samples: 0)
                // keepHeads 2: the latest plus 2 superseded versions stay.
                let results = try store.applyWrites([.commitHead(commit, consumed: [], keepHeads: 2)])
                guard case .commit(let outcome, _, let pruned) = results[0] else {
                    Issue.record("expected a commit result, got \(results)")
                    return
                }
                #expect(outcome == .committed(version: parent + 1, hash: commit.hash))
                #expect(pruned == (parent >= 3 ? 1 : 0))
            }
            #expect(try store.headHistory(UserID("writer-1")).map(\.version) == [4, 5, 6])
            #expect(try store.audit().isClean)
            if let sqlite = store as? RegistryStore { try sqlite.checkpoint(truncate: true) }
        }
    }

    @Test(arguments: TestBackend.available) func aDeclinedHeadIsCountedAndRecorded(_ backend: TestBackend) throws {
        try Self.withRegistry(backend) { answer, store throws in
            var request = HeadRequest(
                userID: "alice", deviceID: "phone-1", haveHash: "", modelVersion: 1, freezePoint: 2)
            request.declinedHash = "ABC"
            guard case .headReply = answer(.headRequest(request), 1) else {
                Issue.record("expected a HeadReply")
                return
            }
            _ = answer(.headRequest(request), 2)
            #expect(try store.audit().headsDeclined == 2)
        }
    }
}
