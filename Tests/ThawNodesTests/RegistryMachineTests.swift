import Foundation
import Logging
import Testing
import ThawModel
import ThawNN
import ThawWire

@testable import ThawNodes

/// The registry's state machine driven without sockets or SQLite: requests in, store operations and
/// replies out, store results fed back by hand in the orders that matter.
@Suite struct RegistryMachineTests {
    typealias Machine = ModelRegistryStateMachine
    /// input [4] → dense 5 → relu → dense 3; at k = 2 the activation is [5] and the head 18 scalars.
    static let architecture = ModelArchitecture(
        inputShape: [4], layers: [.dense(inputs: 4, outputs: 5), .relu, .dense(inputs: 5, outputs: 3)])
    static let stamps = FeatureStamps(
        modelVersion: ModelVersion(1), freezePoint: FreezePoint(2), hyperParameterHash: "h")
    static let phone = Machine.Peer(routingID: [7])

    static func machine(_ index: RegistryIndex = RegistryIndex()) -> Machine {
        Machine(index: index, contracts: [ModelVersion(1): ModelContract(architecture)])
    }

    static func request(_ message: ThawMessage, id: UInt64) -> DecodedMessage {
        DecodedMessage(
            metadata: WireMetadata(sender: "t", sequence: id, sentAtUnixMs: 1), message: message, protocolVersion: 1)
    }

    static func batch(
        user: String = "alice", device: String = "phone-1", seq: UInt64 = 1, samples: [UInt64] = [1, 2],
        value: Float = 0.5
    )
        -> ThawMessage
    {
        .featureBatch(
            ThawWire.FeatureBatch(
                userID: user, deviceID: device, deviceSeq: seq, modelVersion: 1, modelHash: "m", freezePoint: 2,
                hyperHash: "h", sampleIDs: samples, labels: samples.map { UInt32($0 % 3) }, createdAtMs: 1,
                activations: WireTensor(
                    shape: [samples.count, 5], scalars: [Float](repeating: value, count: samples.count * 5))))
    }

    static func headRequest(user: String = "alice", device: String = "phone-1", have: String = "", k: UInt32 = 2)
        -> ThawMessage
    {
        .headRequest(HeadRequest(userID: user, deviceID: device, haveHash: have, modelVersion: 1, freezePoint: k))
    }

    static func headIndex(
        user: String = "alice", version: UInt64 = 1, hash: String = "hash-1", trainedThrough: Int64 = 2
    )
        -> RegistryIndex
    {
        RegistryIndex(heads: [
            UserID(user): .init(
                version: version, parentVersion: version - 1, hash: hash, stamps: stamps, samples: 2,
                trainedThrough: trainedThrough)
        ])
    }

    /// The replies among `actions`, with the request id each echoes.
    static func replies(_ actions: [Machine.Action]) -> [(UInt64, ThawMessage)] {
        actions.compactMap { if case .reply(_, let id, let message, _) = $0 { (id, message) } else { nil } }
    }

    static func stores(_ actions: [Machine.Action]) -> [(UInt64, Machine.StoreOperation)] {
        actions.compactMap { if case .store(let ticket, let operation) = $0 { (ticket, operation) } else { nil } }
    }

    @Test func aNewBatchIsStoredThenARedeliveryIsADuplicateAnsweredFromMemory() throws {
        var machine = Self.machine()
        let first = machine.receive(Self.request(Self.batch(), id: 11), from: Self.phone)
        #expect(Self.replies(first).isEmpty, "nothing is acknowledged before the store kept it")
        let (ticket, operation) = try #require(Self.stores(first).first)
        guard case .storeBatch(let batch, _) = operation else {
            Issue.record("expected storeBatch, got \(operation)")
            return
        }
        #expect(batch.samples.count == 2)
        let stored = machine.stored(ticket: ticket, .batch(.stored(samples: 2, lastRow: 2)))
        guard case (11, .featureStored(let ack))? = Self.replies(stored).first else {
            Issue.record("expected FeatureStored in reply to 11, got \(stored)")
            return
        }
        #expect(ack.deviceSeq == 1 && !ack.duplicate)

        // The redelivery: no store work; not yet in a head, so reported as new work (duplicate == false).
        let again = machine.receive(Self.request(Self.batch(), id: 12), from: Self.phone)
        #expect(Self.stores(again).isEmpty)
        guard case (12, .featureStored(let second))? = Self.replies(again).first else {
            Issue.record("expected FeatureStored in reply to 12, got \(again)")
            return
        }
        #expect(!second.duplicate)
        // Once a head covers it, the redelivery says "nothing to do".
        var indexed = machine.index
        indexed.heads = Self.headIndex(trainedThrough: 2).heads
        var withHead = Self.machine(indexed)
        guard
            case (13, .featureStored(let third))? = Self.replies(
                withHead.receive(Self.request(Self.batch(), id: 13), from: Self.phone)
            ).first
        else {
            Issue.record("expected FeatureStored")
            return
        }
        #expect(third.duplicate)
    }

    @Test func anotherUsersBatchUnderAUsedSequenceIsRefusedNeverAcknowledged() throws {
        // Issue #12 bug 2: user B's batch under (phone-1, 1), which user A already used.
        var machine = Self.machine(Self.headIndex(user: "alice", trainedThrough: 2))
        let first = machine.receive(Self.request(Self.batch(user: "alice"), id: 1), from: Self.phone)
        let (ticket, _) = try #require(Self.stores(first).first)
        _ = machine.stored(ticket: ticket, .batch(.stored(samples: 2, lastRow: 2)))

        let conflicting = machine.receive(Self.request(Self.batch(user: "bob"), id: 2), from: Self.phone)
        guard case (2, .errorReply(let error))? = Self.replies(conflicting).first else {
            Issue.record("expected an ErrorReply to 2, got \(conflicting)")
            return
        }
        #expect(error.inReplyToSequence == 2)
        #expect(error.message.contains("batchConflict") && error.message.contains("alice"))
        // The conflict is recorded for the audit, nothing is stored.
        #expect(Self.stores(conflicting).allSatisfy { if case .recordConflict = $0.1 { true } else { false } })
        // Same user, other samples: also a conflict. Same samples, other activations, same stamps: too.
        let otherSamples = machine.receive(Self.request(Self.batch(samples: [1, 3]), id: 3), from: Self.phone)
        #expect(Self.replies(otherSamples).contains { if case .errorReply = $0.1 { true } else { false } })
        let otherValues = machine.receive(Self.request(Self.batch(value: 0.25), id: 4), from: Self.phone)
        #expect(Self.replies(otherValues).contains { if case .errorReply = $0.1 { true } else { false } })

        // B's head pull does not list A's sequence as durable.
        let pull = machine.receive(Self.request(Self.headRequest(user: "bob"), id: 5), from: Self.phone)
        guard case (5, .headReply(let reply))? = Self.replies(pull).first else {
            Issue.record("expected a HeadReply, got \(pull)")
            return
        }
        #expect(reply.status == .noHead && reply.durableSeqs.isEmpty)
        // A's does.
        guard
            case (6, .headReply(let alice))? = Self.replies(
                machine.receive(Self.request(Self.headRequest(user: "alice", have: "hash-1"), id: 6), from: Self.phone)
            ).first
        else {
            Issue.record("expected a HeadReply")
            return
        }
        #expect(alice.status == .notModified && alice.durableSeqs == [1])
    }

    @Test func notModifiedStaleAndNoHeadAreAnsweredFromTheIndexWithoutTheStore() {
        var machine = Self.machine(Self.headIndex(hash: "abc"))
        func status(_ message: ThawMessage, _ id: UInt64) -> HeadReply.Status? {
            let actions = machine.receive(Self.request(message, id: id), from: Self.phone)
            #expect(Self.stores(actions).isEmpty)
            guard case (id, .headReply(let reply))? = Self.replies(actions).first else { return nil }
            return reply.status
        }
        #expect(status(Self.headRequest(have: "abc"), 1) == .notModified)
        #expect(status(Self.headRequest(have: "abc", k: 3), 2) == .staleRequest)
        #expect(status(Self.headRequest(have: "old", k: 3), 3) == .staleRequest)
        #expect(status(Self.headRequest(user: "nobody"), 4) == .noHead)
        // A changed head needs its parameters: one read, answered with the head.
        let pull = machine.receive(Self.request(Self.headRequest(have: "old"), id: 5), from: Self.phone)
        guard case (let ticket, .readHead(UserID("alice"), deltaBase: nil))? = Self.stores(pull).first else {
            Issue.record("expected a head read, got \(pull)")
            return
        }
        let record = HeadRecord(
            user: UserID("alice"), version: 1, parentVersion: 0, stamps: Self.stamps, hash: "abc",
            parameters: [Float](repeating: 0.1, count: 18), loss: 0, samples: 2, createdAt: Date())
        guard case (5, .headReply(let reply))? = Self.replies(machine.stored(ticket: ticket, .head(record, delta: nil))).first
        else {
            Issue.record("expected the head")
            return
        }
        #expect(reply.status == .head && reply.headParameters?.scalars.count == 18)
    }

    @Test func aCommitOnAStaleParentIsAConflictWithoutTheStoreAndAWinnerIsAnnounced() throws {
        var machine = Self.machine(Self.headIndex(version: 3, hash: "v3"))
        func commit(parent: UInt64, id: UInt64) -> [Machine.Action] {
            machine.receive(
                Self.request(
                    .headCommit(
                        ThawWire.HeadCommit(
                            userID: "alice", parentVersion: parent, modelVersion: 1, freezePoint: 2, hyperHash: "h",
                            headHash: "new", consumed: [BatchRef(deviceID: "phone-1", deviceSeq: 1)],
                            metrics: TrainingMetrics(loss: 0.1, samples: 2, steps: 1),
                            headParameters: WireTensor(flat: [Float](repeating: 0.2, count: 18)))), id: id),
                from: Self.phone)
        }
        let stale = commit(parent: 2, id: 1)
        #expect(Self.stores(stale).isEmpty)
        guard case (1, .commitConflict(let conflict))? = Self.replies(stale).first else {
            Issue.record("expected a conflict, got \(stale)")
            return
        }
        #expect(conflict.currentVersion == 3 && conflict.currentHash == "v3")

        let good = commit(parent: 3, id: 2)
        let (ticket, _) = try #require(Self.stores(good).first)
        let head = RegistryIndex.Head(
            version: 4, parentVersion: 3, hash: "new", stamps: Self.stamps, samples: 2, trainedThrough: 2)
        let done = machine.stored(ticket: ticket, .commit(.committed(version: 4, hash: "new"), head, pruned: 1))
        guard case (2, .commitAck(let ack))? = Self.replies(done).first else {
            Issue.record("expected an ack, got \(done)")
            return
        }
        #expect(ack.version == 4)
        #expect(
            done.contains { if case .announce(let a) = $0 { a.headVersion == 4 && a.headHash == "new" } else { false } }
        )
        #expect(machine.index.heads[UserID("alice")]?.version == 4)
        // A second commit that raced on the same parent lost in the store: its conflict comes from there.
        let racing = commit(parent: 3, id: 3)
        #expect(Self.stores(racing).isEmpty, "the index already knows v4")
    }

    @Test func aStoreResultWhoseRequesterIsGoneStillUpdatesTheIndexAndUnknownTicketsChangeNothing() throws {
        var machine = Self.machine()
        let gone = Machine.Peer(routingID: [9, 9])
        let first = machine.receive(Self.request(Self.batch(seq: 4), id: 40), from: gone)
        let (ticket, _) = try #require(Self.stores(first).first)
        // The peer disconnected meanwhile: ROUTER drops the reply, but the batch is kept and indexed, so
        // its resend from a new connection is a duplicate answered from memory.
        _ = machine.stored(ticket: ticket, .batch(.stored(samples: 2, lastRow: 9)))
        #expect(machine.index.batch(DeviceID("phone-1"), 4)?.lastRow == 9)
        #expect(machine.stored(ticket: ticket, .batch(.stored(samples: 2, lastRow: 9))).isEmpty, "answered once")
        #expect(machine.stored(ticket: 999, .recorded).isEmpty)
        let resend = machine.receive(Self.request(Self.batch(seq: 4), id: 41), from: Self.phone)
        #expect(Self.stores(resend).isEmpty)
        #expect(machine.pendingCount == 0)
    }

    @Test func aStoredBatchIsAnsweredWithItsRowIdsAndAListingWithActivationsOfShapeZero() throws {
        var machine = Self.machine()
        let first = machine.receive(Self.request(Self.batch(), id: 11), from: Self.phone)
        let (ticket, _) = try #require(Self.stores(first).first)
        let stored = machine.stored(ticket: ticket, .batch(.stored(samples: 2, lastRow: 8, rowIDs: [7, 8])))
        guard case (11, .featureStored(let ack))? = Self.replies(stored).first else {
            Issue.record("expected FeatureStored, got \(stored)")
            return
        }
        #expect(ack.rowIDs == [7, 8])

        let fetch = machine.receive(
            Self.request(
                .featureFetch(
                    FeatureFetch(
                        userID: "alice", modelVersion: 1, freezePoint: 2, maxSamples: 8, hyperHash: "h", afterRow: 6,
                        withoutActivations: true)),
                id: 12), from: Self.phone)
        let (read, operation) = try #require(Self.stores(fetch).first)
        guard case .readFeatures(let query) = operation else {
            Issue.record("expected readFeatures, got \(operation)")
            return
        }
        #expect(query.withoutActivations && query.after == 6)
        let stamps = FeatureStamps(modelVersion: ModelVersion(1), freezePoint: FreezePoint(2), hyperParameterHash: "h")
        let listed = [7, 8].map {
            StoredFeature(
                id: Int64($0), user: UserID("alice"), device: DeviceID("phone-1"), deviceSequence: 1,
                sampleID: UInt64($0 + 100), label: 1, stamps: stamps, activations: StoredActivations(shape: [], scalars: []))
        }
        guard case (12, .featureSet(let set))? = Self.replies(machine.stored(ticket: read, .features(listed))).first else {
            Issue.record("expected a FeatureSet")
            return
        }
        #expect(set.isListing && set.activations.shape == [0] && set.rowIDs == [7, 8] && set.sampleIDs == [107, 108])
        // It survives the wire: a listing's ids need not match the activations' first dimension.
        let decoded = try WireCodec.decode(
            WireCodec.encode(.featureSet(set), metadata: WireMetadata(sender: "t", sequence: 1, sentAtUnixMs: 1)))
        #expect(decoded.message == .featureSet(set))
    }

    @Test func aStoreReplyThatNeverComesBlocksNothingAndShutdownRefusesNewWork() throws {
        var machine = Self.machine(Self.headIndex(hash: "abc"))
        let slow = machine.receive(
            Self.request(
                .featureFetch(
                    FeatureFetch(userID: "alice", modelVersion: 1, freezePoint: 2, maxSamples: 8, hyperHash: "h")),
                id: 1), from: Self.phone)
        #expect(Self.stores(slow).count == 1 && Self.replies(slow).isEmpty)
        // Meanwhile other requests are answered.
        for id in UInt64(2)...20 {
            let actions = machine.receive(Self.request(Self.headRequest(have: "abc"), id: id), from: Self.phone)
            #expect(Self.replies(actions).map(\.0) == [id])
        }
        #expect(machine.pendingCount == 1)
        machine.stopAccepting()
        guard
            case (21, .errorReply(let refused))? = Self.replies(
                machine.receive(Self.request(Self.headRequest(have: "abc"), id: 21), from: Self.phone)
            ).first
        else {
            Issue.record("expected UNAVAILABLE")
            return
        }
        #expect(refused.code == .unavailable && refused.inReplyToSequence == 21)
        // A failed store operation is answered INTERNAL, never acknowledged.
        let (ticket, _) = try #require(Self.stores(slow).first)
        guard
            case (1, .errorReply(let failed))? = Self.replies(machine.stored(ticket: ticket, .failed("disk full")))
                .first
        else {
            Issue.record("expected INTERNAL")
            return
        }
        #expect(failed.code == .internal && machine.pendingCount == 0)
    }

    @Test func malformedRequestsAreRefusedWithTheirIdWhenTheHeaderIsReadable() throws {
        var frames = try WireCodec.encode(
            Self.headRequest(), metadata: WireMetadata(sender: "t", sequence: 77, sentAtUnixMs: 1))
        #expect(EnvelopePeek.sequence(frames[0]) == 77)
        frames.append([1, 2, 3])  // a tensor frame no descriptor announces
        #expect(throws: WireError.self) { try WireCodec.decode(frames) }
        #expect(EnvelopePeek.sequence(frames[0]) == 77)
        #expect(EnvelopePeek.sequence([0xFF, 0x00]) == nil)
        var machine = Self.machine()
        guard
            case (0, .errorReply(let unsupported))? = Self.replies(
                machine.receive(
                    Self.request(.commitAck(CommitAck(userID: "u", version: 1, headHash: "h")), id: 0), from: Self.phone
                )
            ).first
        else {
            Issue.record("expected UNSUPPORTED")
            return
        }
        #expect(unsupported.code == .unsupported)
    }
}
