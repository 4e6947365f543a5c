import Testing
import ThawNN
import ThawWire

@testable import ThawNodes

/// The worker's decisions without sockets, threads or BLAS: every test feeds events in the order that
/// matters and checks the actions that come out.
@Suite struct TrainerWorkerStateMachineTests {
    typealias Machine = TrainerWorkerStateMachine

    /// input [4] → dense 5 → relu → dense 3; at k = 2 a sample is [5] and the head has 18 scalars.
    static let architecture = ModelArchitecture(
        inputShape: [4], layers: [.dense(inputs: 4, outputs: 5), .relu, .dense(inputs: 5, outputs: 3)])
    static let contract = ModelContract(architecture)
    static let deployment = Fixture.state(version: 1, freeze: 2, hyper: "h", epoch: 3)

    static func batch(
        seq: UInt64, user: String = "writer-1", device: String = "phone-1", samples: Int = 2, freeze: UInt32 = 2,
        version: UInt64 = 1, hyper: String = "h", epoch: UInt64 = 3
    ) -> ThawWire.FeatureBatch {
        ThawWire.FeatureBatch(
            userID: user, deviceID: device, deviceSeq: seq, modelVersion: version, modelHash: "model-1",
            freezePoint: freeze, hyperHash: hyper, sampleIDs: (0..<UInt64(samples)).map { seq * 100 + $0 },
            labels: (0..<samples).map { UInt32($0 % 3) }, createdAtMs: 1,
            activations: WireTensor(
                shape: [samples, 5], scalars: (0..<(samples * 5)).map { Float($0) / 10 + Float(seq) }),
            epoch: epoch)
    }

    /// A machine plus a clock, with helpers to pull requests out of the actions.
    struct Harness {
        var machine: Machine
        var now = Timestamp(milliseconds: 1_000)
        var actions: [Machine.Action] = []

        init(configuration: Machine.Configuration = Machine.Configuration(), loaded: Bool = true) {
            machine = Machine(configuration: configuration)
            _ = machine.handle(.deployment(TrainerWorkerStateMachineTests.deployment), now: now)
            if loaded {
                // Load the model once: a batch asks for it, the registry answers, the node builds it.
                _ = machine.handle(.modelLoaded(ModelVersion(1), TrainerWorkerStateMachineTests.contract), now: now)
            }
        }

        @discardableResult
        mutating func on(_ event: Machine.Event) -> [Machine.Action] {
            actions = machine.handle(event, now: now)
            return actions
        }

        var sent: [(id: UInt64, message: ThawMessage)] {
            actions.compactMap { if case .send(let id, let message) = $0 { (id, message) } else { nil } }
        }
        var released: [DeliveryToken] {
            actions.compactMap { if case .release(let token) = $0 { token } else { nil } }
        }
        var jobs: [Machine.TrainingJob] {
            actions.compactMap { if case .train(let job) = $0 { job } else { nil } }
        }

        /// The id of the one request of `kind` among the last actions.
        func id(of kind: ThawMessage.Kind) -> UInt64? { sent.first { $0.message.kind == kind }?.id }

        @discardableResult
        mutating func stored(_ id: UInt64, _ batch: ThawWire.FeatureBatch, duplicate: Bool = false, echo: Bool = true)
            -> [Machine.Action]
        {
            on(
                .reply(
                    .featureStored(FeatureStored(deviceID: batch.deviceID, deviceSeq: batch.deviceSeq, duplicate: duplicate)),
                    inReplyTo: echo ? id : 0))
        }

        static func result(_ value: Float = 0.5) -> Machine.TrainingResult {
            Machine.TrainingResult(parameters: Array(repeating: value, count: 18), headHash: "hash-\(value)", loss: 1, steps: 1)
        }
    }

    static func noHead(_ user: String = "writer-1") -> ThawMessage {
        .headReply(
            HeadReply(
                status: .noHead, userID: user, headVersion: 0, parentVersion: 0, headHash: "", modelVersion: 1,
                freezePoint: 2, hyperHash: "h", durableSeqs: [], headParameters: nil))
    }

    static func head(_ version: UInt64, user: String = "writer-1") -> ThawMessage {
        .headReply(
            HeadReply(
                status: .head, userID: user, headVersion: version, parentVersion: version - 1, headHash: "v\(version)",
                modelVersion: 1, freezePoint: 2, hyperHash: "h", durableSeqs: [],
                headParameters: WireTensor(flat: Array(repeating: 0.25, count: 18))))
    }

    static func features(_ user: String = "writer-1", rows: [UInt64], sampleBase: UInt64 = 9_000) -> ThawMessage {
        .featureSet(
            FeatureSet(
                userID: user, sampleIDs: rows.map { sampleBase + $0 }, labels: rows.map { UInt32($0 % 3) },
                activations: WireTensor(shape: [rows.count, 5], scalars: Array(repeating: 0.1, count: rows.count * 5)),
                rowIDs: rows))
    }

    /// The registry's stored rows of `batches`, in order, with row ids from `firstRow` (none when nil:
    /// a registry from before row ids).
    static func rows(of batches: [ThawWire.FeatureBatch], firstRow: UInt64? = nil, user: String = "writer-1")
        -> ThawMessage
    {
        let ids = batches.flatMap(\.sampleIDs)
        return .featureSet(
            FeatureSet(
                userID: user, sampleIDs: ids, labels: batches.flatMap(\.labels),
                activations: WireTensor(shape: [ids.count, 5], scalars: batches.flatMap(\.activations.scalars)),
                rowIDs: firstRow.map { first in (0..<UInt64(ids.count)).map { first + $0 } } ?? []))
    }

    /// The commit among the last actions.
    static func commit(_ h: Harness) -> (id: UInt64, commit: ThawWire.HeadCommit)? {
        for (id, message) in h.sent { if case .headCommit(let commit) = message { return (id, commit) } }
        return nil
    }

    /// Stores `batch` as token `token`, answers the head request with no head and the full fetch with
    /// the batch's rows (ids from `firstRow`), trains and commits it as version 1.
    static func firstHead(_ h: inout Harness, _ batch: ThawWire.FeatureBatch, token: DeliveryToken, firstRow: UInt64? = 1) throws {
        h.on(.batch(token, batch))
        h.stored(try #require(h.id(of: .featureBatch)), batch)
        h.on(.reply(Self.noHead(batch.userID), inReplyTo: try #require(h.id(of: .headRequest))))
        h.on(.reply(Self.rows(of: [batch], firstRow: firstRow, user: batch.userID), inReplyTo: try #require(h.id(of: .featureFetch))))
        h.on(.trained(job: try #require(h.jobs.first).id, Harness.result()))
        let commit = try #require(Self.commit(h))
        h.on(.reply(.commitAck(CommitAck(userID: batch.userID, version: 1, headHash: "hash-0.5")), inReplyTo: commit.id))
    }

    // MARK: -

    @Test func aBatchIsStoredTrainedCommittedAndOnlyThenReleased() throws {
        var h = Harness()
        let b1 = Self.batch(seq: 1)
        h.on(.batch(10, b1))
        let store = try #require(h.id(of: .featureBatch))
        #expect(h.released.isEmpty)
        h.stored(store, b1)
        let headID = try #require(h.id(of: .headRequest))
        h.on(.reply(Self.noHead(), inReplyTo: headID))
        // No coverage known yet: every stored row, from the first.
        guard case .featureFetch(let fetch)? = h.sent.first?.message else {
            Issue.record("no fetch")
            return
        }
        #expect(fetch.afterRow == 0 && fetch.maxSamples == 4096)
        h.on(.reply(Self.rows(of: [b1], firstRow: 1), inReplyTo: h.sent[0].id))
        let job = try #require(h.jobs.first)
        #expect(job.newSamples == 2 && job.labels.count == 2)
        #expect(job.start == nil)
        #expect(h.released.isEmpty)
        h.on(.trained(job: job.id, Harness.result()))
        let (commitID, commit) = try #require(Self.commit(h))
        #expect(commit.consumed == [BatchRef(deviceID: "phone-1", deviceSeq: 1)])
        #expect(commit.parentVersion == 0)
        #expect(commit.metrics.samples == 2)
        #expect(h.released.isEmpty)
        h.on(.reply(.commitAck(CommitAck(userID: "writer-1", version: 1, headHash: "hash-0.5")), inReplyTo: commitID))
        #expect(h.released == [10])
        #expect(h.machine.count(.commits) == 1)
        #expect(h.machine.isIdle)
    }

    /// The registry's listing (no values) of `rows` of `user`, sample ids from `sampleBase`.
    static func listing(_ user: String = "writer-1", rows: [UInt64], sampleIDs: [UInt64], labels: [UInt32]) -> ThawMessage {
        .featureSet(
            FeatureSet(userID: user, sampleIDs: sampleIDs, labels: labels, activations: WireTensor(shape: [0], scalars: []), rowIDs: rows))
    }

    /// A fresh worker that took `batch` as `token`, heard its row ids `rows` from the registry and that the
    /// user has no head: its next action is the round's fetch.
    static func storedWithRowIDs(_ batch: ThawWire.FeatureBatch, token: DeliveryToken, rows: [UInt64]) throws -> Harness {
        var h = Harness()
        h.on(.batch(token, batch))
        h.on(
            .reply(
                .featureStored(
                    FeatureStored(deviceID: batch.deviceID, deviceSeq: batch.deviceSeq, duplicate: false, rowIDs: rows)),
                inReplyTo: try #require(h.id(of: .featureBatch))))
        h.on(.reply(Self.noHead(batch.userID), inReplyTo: try #require(h.id(of: .headRequest))))
        return h
    }

    @Test func aRoundOfBatchesThisWorkerStoredFetchesAListingAndTrainsOnItsOwnCopy() throws {
        let b1 = Self.batch(seq: 1)
        var h = try Self.storedWithRowIDs(b1, token: 10, rows: [41, 42])
        guard case .featureFetch(let fetch)? = h.sent.first?.message else {
            Issue.record("no fetch")
            return
        }
        #expect(fetch.withoutActivations)
        h.on(.reply(Self.listing(rows: [41, 42], sampleIDs: b1.sampleIDs, labels: b1.labels), inReplyTo: h.sent[0].id))
        let job = try #require(h.jobs.first)
        #expect(job.activations == b1.activations.scalars && job.labels == b1.labels.map(Int.init))
        #expect(h.machine.count(.rowsReused) == 2 && h.machine.count(.rowsFetched) == 0)
        h.on(.trained(job: job.id, Harness.result()))
        let (commitID, _) = try #require(Self.commit(h))
        h.on(.reply(.commitAck(CommitAck(userID: "writer-1", version: 1, headHash: "hash-0.5")), inReplyTo: commitID))
        #expect(h.released == [10] && h.machine.isIdle)
    }

    @Test func aListingThatNamesARowThisWorkerDoesNotHoldIsFollowedByAFetchWithValues() throws {
        let b1 = Self.batch(seq: 1)
        var h = try Self.storedWithRowIDs(b1, token: 10, rows: [41, 42])
        // Row 40 was stored by another worker: this one has no values for it.
        h.on(
            .reply(
                Self.listing(rows: [40, 41, 42], sampleIDs: [7] + b1.sampleIDs, labels: [2] + b1.labels),
                inReplyTo: h.sent[0].id))
        #expect(h.jobs.isEmpty && h.machine.count(.listingMisses) == 1)
        guard case .featureFetch(let again)? = h.sent.first?.message else {
            Issue.record("expected a fetch with values, got \(h.actions)")
            return
        }
        #expect(!again.withoutActivations && again.afterRow == 0)
        h.on(.reply(Self.features(rows: [40, 41, 42]), inReplyTo: h.sent[0].id))
        let job = try #require(h.jobs.first)
        #expect(job.newSamples == 3 && h.machine.count(.rowsFetched) == 3)
    }

    @Test func int8BatchesAndAnUnaskedListingAreNotTrainedFromTheWorkersCopy() throws {
        var h = Harness()
        var b1 = Self.batch(seq: 1)
        b1.activationEncoding = .int8
        #expect(!Machine.reusable(b1, for: FeatureStamps(of: b1)))
        #expect(Machine.reusable(Self.batch(seq: 1), for: FeatureStamps(of: Self.batch(seq: 1))))
        let b2 = Self.batch(seq: 2)
        h.on(.batch(10, b2))
        // No row ids in the reply (an older registry): the worker asks for values.
        h.stored(try #require(h.id(of: .featureBatch)), b2)
        h.on(.reply(Self.noHead(), inReplyTo: try #require(h.id(of: .headRequest))))
        guard case .featureFetch(let fetch)? = h.sent.first?.message else {
            Issue.record("no fetch")
            return
        }
        #expect(!fetch.withoutActivations)
        // A listing it did not ask for is refused, and the round gives its batch back.
        h.on(.reply(Self.listing(rows: [1, 2], sampleIDs: b2.sampleIDs, labels: b2.labels), inReplyTo: h.sent[0].id))
        #expect(h.jobs.isEmpty)
        #expect(h.actions.contains { if case .refuse = $0 { true } else { false } })
    }

    @Test func aRoundThatCommitsAcrossADeploymentChangeLeavesNoOldRowsToReplay() throws {
        // The load test's crash: a round in flight when the stamps changed committed its rows into the
        // replay history cleared for the new stamps; a later round replayed rows of the old freeze
        // point, whose width differs, and the training thread trapped on the job's shape.
        var h = Harness()
        let b1 = Self.batch(seq: 1)
        h.on(.batch(10, b1))
        h.stored(try #require(h.id(of: .featureBatch)), b1)
        h.on(.reply(Self.noHead(), inReplyTo: try #require(h.id(of: .headRequest))))
        h.on(.reply(Self.rows(of: [b1], firstRow: 1), inReplyTo: try #require(h.id(of: .featureFetch))))
        h.on(.trained(job: try #require(h.jobs.first).id, Harness.result()))
        let (firstCommit, _) = try #require(Self.commit(h))
        h.on(.deployment(Fixture.state(version: 1, freeze: 2, hyper: "h2", epoch: 4)))
        h.on(.reply(.commitAck(CommitAck(userID: "writer-1", version: 1, headHash: "hash-0.5")), inReplyTo: firstCommit))
        #expect(h.released == [10])

        // Under the new stamps: a full round, then an incremental one that replays.
        var version: UInt64 = 1
        for seq in UInt64(2)...3 {
            let batch = Self.batch(seq: seq, hyper: "h2", epoch: 4)
            h.on(.batch(DeliveryToken(seq * 10), batch))
            h.stored(try #require(h.id(of: .featureBatch)), batch)
            if let head = h.id(of: .headRequest) {
                h.on(
                    .reply(
                        .headReply(
                            HeadReply(
                                status: .noHead, userID: "writer-1", headVersion: 0, parentVersion: 0, headHash: "",
                                modelVersion: 1, freezePoint: 2, hyperHash: "h2", durableSeqs: [], headParameters: nil)),
                        inReplyTo: head))
            }
            h.on(.reply(Self.rows(of: [batch], firstRow: seq * 10, user: "writer-1"), inReplyTo: try #require(h.id(of: .featureFetch))))
            let job = try #require(h.jobs.first)
            #expect(job.activations.count == job.labels.count * 5)
            if seq == 3 {
                #expect(job.labels.count > job.newSamples, "the incremental round replays")
            }
            h.on(.trained(job: job.id, Harness.result()))
            let (commit, _) = try #require(Self.commit(h))
            version += 1
            h.on(.reply(.commitAck(CommitAck(userID: "writer-1", version: version, headHash: "hash-0.5")), inReplyTo: commit))
            let history = Set(h.machine.users["writer-1"]?.history.map(\.sampleID) ?? [])
            #expect(history.isDisjoint(with: b1.sampleIDs), "no row of the old stamps is kept to replay")
        }
    }

    @Test func aBurstOfBatchesIsStoredAtOnceAndTrainedTogetherOnNewRowsPlusReplay() throws {
        var h = Harness()
        let batches = (1...6).map { Self.batch(seq: UInt64($0)) }
        var stores: [UInt64] = []
        for (index, batch) in batches.enumerated() {
            h.on(.batch(DeliveryToken(index + 1), batch))
            stores.append(try #require(h.id(of: .featureBatch)))
        }
        // Six stores in flight before any reply.
        #expect(h.machine.outstanding.count == 6)
        h.stored(stores[0], batches[0])
        let headID = try #require(h.id(of: .headRequest))
        for index in 1..<6 { h.stored(stores[index], batches[index]) }
        #expect(h.sent.isEmpty)  // the round is busy; the other five wait
        h.on(.reply(Self.noHead(), inReplyTo: headID))
        // The registry already holds all six batches; a page from the first returns them all, and the
        // ones that came back are consumed too.
        h.on(.reply(Self.rows(of: [batches[0]], firstRow: 1), inReplyTo: try #require(h.id(of: .featureFetch))))
        let first = try #require(h.jobs.first)
        h.on(.trained(job: first.id, Harness.result()))
        h.on(.reply(.commitAck(CommitAck(userID: "writer-1", version: 1, headHash: "x")), inReplyTo: try #require(Self.commit(h)).id))
        #expect(h.released == [1])
        // The five waiting batches are one round: no head request (the worker's head is current), a fetch
        // of the rows after its coverage only, one job.
        #expect(h.id(of: .headRequest) == nil)
        guard case .featureFetch(let fetch)? = h.sent.first?.message else {
            Issue.record("no fetch")
            return
        }
        #expect(fetch.afterRow == 2 && fetch.maxSamples == 1024)
        h.on(.reply(Self.rows(of: Array(batches[1...]), firstRow: 3), inReplyTo: h.sent[0].id))
        let second = try #require(h.jobs.first)
        #expect(second.newSamples == 10)
        #expect(second.labels.count == 10 + 2)  // plus batch 1's two rows, replayed (at most half of 10)
        #expect(second.start == Array(repeating: 0.5, count: 18))
        h.on(.trained(job: second.id, Harness.result(0.75)))
        let (commitID, commit) = try #require(Self.commit(h))
        #expect(commit.parentVersion == 1)
        #expect(commit.consumed.map(\.deviceSeq) == [2, 3, 4, 5, 6])
        #expect(commit.metrics.samples == 12)
        h.on(.reply(.commitAck(CommitAck(userID: "writer-1", version: 2, headHash: "y")), inReplyTo: commitID))
        #expect(Set(h.released) == [2, 3, 4, 5, 6])
        #expect(h.machine.count(.rounds) == 2)
        #expect(h.machine.count(.commits) == 2)
        #expect(h.machine.count(.headsSkipped) == 1)
        #expect(h.machine.isIdle)
    }

    @Test func waitingBatchesWhoseRowsTheRoundFetchedAreConsumedByItsHead() throws {
        var h = Harness()
        let batches = (1...3).map { Self.batch(seq: UInt64($0)) }
        var stores: [UInt64] = []
        for (index, batch) in batches.enumerated() {
            h.on(.batch(DeliveryToken(index + 1), batch))
            stores.append(try #require(h.id(of: .featureBatch)))
        }
        h.stored(stores[0], batches[0])
        let head = try #require(h.id(of: .headRequest))
        h.stored(stores[1], batches[1])
        h.stored(stores[2], batches[2])
        h.on(.reply(Self.noHead(), inReplyTo: head))
        // All three are stored: the round's fetch brings every row, so its head covers all three.
        h.on(.reply(Self.rows(of: batches, firstRow: 1), inReplyTo: try #require(h.id(of: .featureFetch))))
        let job = try #require(h.jobs.first)
        #expect(job.newSamples == 6)
        h.on(.trained(job: job.id, Harness.result()))
        let (commitID, commit) = try #require(Self.commit(h))
        #expect(commit.consumed.map(\.deviceSeq) == [1, 2, 3])
        #expect(commit.metrics.samples == 6)
        h.on(.reply(.commitAck(CommitAck(userID: "writer-1", version: 1, headHash: "x")), inReplyTo: commitID))
        #expect(Set(h.released) == [1, 2, 3])
        #expect(h.machine.count(.rounds) == 1)
        #expect(h.machine.isIdle)
    }

    @Test func aRoundFetchesOnlyWhenTheSlotIsAboutToFreeSoLaterBatchesJoinIt() throws {
        var h = Harness()
        // Writers 1, 2 and 3 each store one batch and learn they have no head.
        var heads: [String: UInt64] = [:]
        for (index, user) in ["writer-1", "writer-2", "writer-3"].enumerated() {
            let batch = Self.batch(seq: UInt64(index + 1), user: user, device: "phone-\(user)")
            h.on(.batch(DeliveryToken(index + 1), batch))
            h.stored(try #require(h.id(of: .featureBatch)), batch)
            heads[user] = try #require(h.id(of: .headRequest))
        }
        h.on(.reply(Self.noHead("writer-1"), inReplyTo: heads["writer-1"]!))
        let fetch1 = try #require(h.id(of: .featureFetch))
        // One slot: writer-1 is fetching, so writer-2 and writer-3 wait with their heads known.
        h.on(.reply(Self.noHead("writer-2"), inReplyTo: heads["writer-2"]!))
        #expect(h.id(of: .featureFetch) == nil)
        h.on(.reply(Self.noHead("writer-3"), inReplyTo: heads["writer-3"]!))
        #expect(h.id(of: .featureFetch) == nil)
        let first1 = Self.batch(seq: 1, user: "writer-1", device: "phone-writer-1")
        h.on(.reply(Self.rows(of: [first1], firstRow: 1, user: "writer-1"), inReplyTo: fetch1))
        // writer-1's job takes the slot; writer-2's fetch goes now, to overlap with that training.
        let job1 = try #require(h.jobs.first)
        let fetch2 = try #require(h.id(of: .featureFetch))
        guard case .featureFetch(let asked)? = h.sent.first(where: { $0.id == fetch2 })?.message else { return }
        #expect(asked.userID == "writer-2")
        // writer-3 stores another batch while it waits: its round's fetch, still to come, takes it too.
        let late = Self.batch(seq: 9, user: "writer-3", device: "phone-writer-3")
        h.on(.batch(9, late))
        h.stored(try #require(h.id(of: .featureBatch)), late)
        #expect(h.id(of: .headRequest) == nil)
        let first2 = Self.batch(seq: 2, user: "writer-2", device: "phone-writer-2")
        h.on(.reply(Self.rows(of: [first2], firstRow: 3, user: "writer-2"), inReplyTo: fetch2))
        #expect(h.jobs.isEmpty && h.id(of: .featureFetch) == nil)  // the slot is busy, one round is fetched ahead
        h.on(.trained(job: job1.id, Harness.result()))
        let job2 = try #require(h.jobs.first)
        #expect(job2.user == "writer-2")
        let fetch3 = try #require(h.id(of: .featureFetch))
        let first3 = Self.batch(seq: 3, user: "writer-3", device: "phone-writer-3")
        h.on(.reply(Self.rows(of: [first3, late], firstRow: 5, user: "writer-3"), inReplyTo: fetch3))
        h.on(.trained(job: job2.id, Harness.result()))
        let job3 = try #require(h.jobs.first)
        #expect(job3.user == "writer-3" && job3.newSamples == 4)
        h.on(.trained(job: job3.id, Harness.result()))
        let commit3 = try #require(Self.commit(h))
        #expect(commit3.commit.consumed.map(\.deviceSeq) == [3, 9])
        #expect(h.machine.count(.rounds) == 3)
    }

    @Test func duplicatesAreStoredOnceAndKnownOnesAreNotTrained() throws {
        var h = Harness()
        let b1 = Self.batch(seq: 1)
        h.on(.batch(1, b1))
        let store = try #require(h.id(of: .featureBatch))
        // The device re-sent while the first copy is being stored: released at once, not stored twice.
        h.on(.batch(2, b1))
        #expect(h.released == [2])
        #expect(h.sent.isEmpty)
        // The registry has it in a head already.
        h.stored(store, b1, duplicate: true)
        #expect(h.released == [1])
        #expect(h.sent.isEmpty)
        #expect(h.machine.count(.duplicates) == 2)
        #expect(h.machine.isIdle)
    }

    @Test func aConflictRefetchesTheHeadAndTrainsItIncrementally() throws {
        var h = Harness()
        try Self.firstHead(&h, Self.batch(seq: 1), token: 1)
        let b2 = Self.batch(seq: 2)
        h.on(.batch(2, b2))
        h.stored(try #require(h.id(of: .featureBatch)), b2)
        h.on(.reply(Self.rows(of: [b2], firstRow: 3), inReplyTo: try #require(h.id(of: .featureFetch))))
        h.on(.trained(job: h.jobs[0].id, Harness.result()))
        h.on(.reply(.commitConflict(CommitConflict(userID: "writer-1", currentVersion: 2, currentHash: "v2")), inReplyTo: try #require(Self.commit(h)).id))
        #expect(h.machine.count(.conflicts) == 1)
        #expect(h.released.isEmpty)
        guard case .headRequest(let request)? = h.sent.first?.message else {
            Issue.record("no head request after the conflict")
            return
        }
        #expect(request.haveHash == "")
        h.on(.reply(Self.head(2), inReplyTo: h.sent[0].id))
        // The newer head descends from this worker's, which covered rows 1–2: fetch after row 2 again.
        guard case .featureFetch(let fetch)? = h.sent.first?.message else { return }
        #expect(fetch.afterRow == 2)
        let other = Self.batch(seq: 9, device: "phone-2")
        h.on(.reply(Self.rows(of: [b2, other], firstRow: 3), inReplyTo: h.sent[0].id))
        let job = try #require(h.jobs.first)
        #expect(job.start == Array(repeating: 0.25, count: 18))
        #expect(job.newSamples == 4 && job.labels.count == 4 + 2)
        h.on(.trained(job: job.id, Harness.result()))
        let (commitID, commit) = try #require(Self.commit(h))
        #expect(commit.parentVersion == 2)
        #expect(commit.metrics.samples == 6)
        #expect(commit.consumed == [BatchRef(deviceID: "phone-1", deviceSeq: 2)])
        h.on(.reply(.commitAck(CommitAck(userID: "writer-1", version: 3, headHash: "x")), inReplyTo: commitID))
        #expect(h.released == [2])
        // Contended: the next round asks for the head first, naming the one it has.
        let b3 = Self.batch(seq: 3)
        h.on(.batch(3, b3))
        h.stored(try #require(h.id(of: .featureBatch)), b3)
        guard case .headRequest(let next)? = h.sent.first?.message else {
            Issue.record("no head request for a contended user")
            return
        }
        #expect(next.haveHash == "hash-0.5")
        h.on(.reply(
            .headReply(HeadReply(
                status: .notModified, userID: "writer-1", headVersion: 3, parentVersion: 2, headHash: "hash-0.5",
                modelVersion: 1, freezePoint: 2, hyperHash: "h", durableSeqs: [], headParameters: nil)),
            inReplyTo: h.sent[0].id))
        #expect(h.machine.count(.headsNotModified) == 1)
        #expect(h.id(of: .featureFetch) != nil)
        #expect(h.machine.users["writer-1"]?.contended == false)
    }

    @Test func repeatedConflictsGiveTheBatchBackUnacknowledged() throws {
        var configuration = Machine.Configuration()
        configuration.commitAttempts = 2
        var h = Harness(configuration: configuration)
        let b1 = Self.batch(seq: 1)
        h.on(.batch(1, b1))
        h.stored(try #require(h.id(of: .featureBatch)), b1)
        for attempt in 0..<2 {
            h.on(.reply(Self.head(UInt64(4 + attempt)), inReplyTo: try #require(h.id(of: .headRequest))))
            h.on(.reply(Self.rows(of: [b1]), inReplyTo: try #require(h.id(of: .featureFetch))))
            h.on(.trained(job: h.jobs[0].id, Harness.result()))
            h.on(.reply(.commitConflict(CommitConflict(userID: "writer-1", currentVersion: 9, currentHash: "")), inReplyTo: try #require(Self.commit(h)).id))
        }
        #expect(h.released == [1])
        #expect(h.machine.count(.commits) == 0)
        #expect(h.machine.count(.failures) == 1)
        #expect(h.machine.isIdle)
    }

    @Test func staleStampsAreRejectedLeftOrAdvanced() throws {
        var h = Harness()
        // An older model: rejected, the rejection handed to the registry, the delivery released.
        h.on(.batch(1, Self.batch(seq: 1, version: 0, epoch: 1)))
        guard case .batchRejected(let rejection)? = h.sent.first?.message else {
            Issue.record("no rejection")
            return
        }
        #expect(rejection.reason == RejectReason.staleModel.wire)
        #expect(h.released == [1])
        h.on(.reply(.rejectionRecorded(RejectionRecorded(deviceID: "phone-1", deviceSeq: 1)), inReplyTo: 0))
        #expect(h.machine.count(.rejectionsReturned) == 1)
        // A newer model than the worker's (it missed a broadcast): left for the device to re-send.
        h.on(.batch(2, Self.batch(seq: 2, version: 2, epoch: 9)))
        #expect(h.released == [2])
        #expect(h.sent.isEmpty)
        // Other hyper-parameters: rejected.
        h.on(.batch(3, Self.batch(seq: 3, hyper: "other")))
        #expect(h.released == [3])
        // A shallower freeze point of the same model: advanced (by the node), then stored as usual.
        var shallow = Self.batch(seq: 4, freeze: 1)
        shallow.activations = WireTensor(shape: [2, 5], scalars: Array(repeating: 1, count: 10))
        h.on(.batch(4, shallow))
        guard case .advance(4, _, let from, let to)? = h.actions.first(where: { if case .advance = $0 { true } else { false } })
        else {
            Issue.record("no advance: \(h.actions)")
            return
        }
        #expect(from == FreezePoint(1) && to == FreezePoint(2))
        var advanced = shallow
        advanced.freezePoint = 2
        h.on(.advanced(4, advanced))
        #expect(h.id(of: .featureBatch) != nil)
        #expect(h.machine.count(.advancedStale) == 1)
        #expect(h.machine.count(.rejectedStale) == 3)
    }

    @Test func aBatchThatDoesNotFitTheModelIsRefusedBeforeItIsStored() throws {
        var h = Harness()
        var bad = Self.batch(seq: 1)
        bad.activations = WireTensor(shape: [2, 4], scalars: Array(repeating: 1, count: 8))
        h.on(.batch(1, bad))
        #expect(h.sent.isEmpty)
        #expect(h.released == [1])
        #expect(h.actions.contains { if case .refuse(socket: "pull", reason: "wrongShape", _) = $0 { true } else { false } })
    }

    @Test func aReplyThatNeverComesLeavesTheBatchForTheDeviceAndALateOneIsRefused() throws {
        var h = Harness()
        let b1 = Self.batch(seq: 1)
        h.on(.batch(1, b1))
        let store = try #require(h.id(of: .featureBatch))
        h.now = h.now.advanced(by: .seconds(5))
        h.on(.tick)
        #expect(h.released.isEmpty)
        h.now = h.now.advanced(by: .seconds(6))
        h.on(.tick)
        #expect(h.released == [1])
        #expect(h.machine.count(.timeouts) == 1)
        #expect(h.machine.count(.commits) == 0)
        #expect(h.machine.isIdle)
        h.stored(store, b1)
        #expect(h.actions.contains { if case .refuse(socket: "dealer", reason: "unsolicitedReply", _) = $0 { true } else { false } })
        #expect(h.sent.isEmpty)
    }

    @Test func aCommitThatTimesOutGivesTheRoundsBatchesBack() throws {
        var h = Harness()
        let b1 = Self.batch(seq: 1)
        h.on(.batch(1, b1))
        h.stored(try #require(h.id(of: .featureBatch)), b1)
        h.on(.reply(Self.noHead(), inReplyTo: try #require(h.id(of: .headRequest))))
        h.on(.reply(Self.rows(of: [b1]), inReplyTo: try #require(h.id(of: .featureFetch))))
        h.on(.trained(job: h.jobs[0].id, Harness.result()))
        h.now = h.now.advanced(by: .seconds(11))
        h.on(.tick)
        #expect(h.released == [1])
        #expect(h.machine.isIdle)
    }

    @Test func repliesWithoutRequestIdsAreMatchedByWhatTheyName() throws {
        var h = Harness()
        let a = Self.batch(seq: 1, user: "writer-a", device: "phone-a")
        let b = Self.batch(seq: 1, user: "writer-b", device: "phone-b")
        h.on(.batch(1, a))
        h.on(.batch(2, b))
        // An old registry: no in_reply_to; answers in another order than asked.
        h.stored(0, b, echo: false)
        #expect(h.id(of: .headRequest) != nil)
        h.stored(0, a, echo: false)
        h.on(.reply(Self.noHead("writer-a"), inReplyTo: 0))
        guard case .featureFetch(let fetch)? = h.sent.first?.message else {
            Issue.record("no fetch for writer-a")
            return
        }
        #expect(fetch.userID == "writer-a")
        // An error reply names its request by ErrorReply.in_reply_to_sequence.
        h.on(.reply(.errorReply(ErrorReply(code: .internal, message: "disk", inReplyToSequence: h.sent[0].id)), inReplyTo: 0))
        #expect(h.released == [1])
    }

    @Test func aRegistryWithoutRowIdsServesFromTheFirstAndTheCoveredPrefixIsSkipped() throws {
        var h = Harness()
        let b1 = Self.batch(seq: 1)
        try Self.firstHead(&h, b1, token: 1, firstRow: nil)
        let b2 = Self.batch(seq: 2)
        h.on(.batch(2, b2))
        h.stored(try #require(h.id(of: .featureBatch)), b2)
        guard case .featureFetch(let fetch)? = h.sent.first?.message else {
            Issue.record("no fetch")
            return
        }
        // No row ids known: from the first, with a page that reaches past the two covered rows.
        #expect(fetch.afterRow == 0 && fetch.maxSamples == 2 + 1024)
        h.on(.reply(Self.rows(of: [b1, b2]), inReplyTo: h.sent[0].id))
        let job = try #require(h.jobs.first)
        #expect(job.newSamples == 2)
        #expect(job.labels.count == 2 + 1)
        h.on(.trained(job: job.id, Harness.result()))
        #expect(Self.commit(h)?.commit.metrics.samples == 4)
    }

    @Test func rowsAtOrBeforeAfterRowAreSkippedWhenTheRegistryIgnoresIt() throws {
        var h = Harness()
        let b1 = Self.batch(seq: 1)
        try Self.firstHead(&h, b1, token: 1, firstRow: 1)
        let b2 = Self.batch(seq: 2)
        h.on(.batch(2, b2))
        h.stored(try #require(h.id(of: .featureBatch)), b2)
        // Asked after row 2, sent rows 1–4: only 3 and 4 are new.
        h.on(.reply(Self.rows(of: [b1, b2], firstRow: 1), inReplyTo: try #require(h.id(of: .featureFetch))))
        #expect(h.jobs.first?.newSamples == 2)
        h.on(.trained(job: h.jobs[0].id, Harness.result()))
        #expect(Self.commit(h)?.commit.metrics.samples == 4)
    }

    @Test func aBatchAlreadyCoveredByAnotherWorkersHeadIsReleasedWithoutTraining() throws {
        var h = Harness()
        try Self.firstHead(&h, Self.batch(seq: 1), token: 1)
        let b2 = Self.batch(seq: 2)
        h.on(.batch(2, b2))
        h.stored(try #require(h.id(of: .featureBatch)), b2)
        // Nothing after the coverage (the page is not full): nothing to train, nothing to commit.
        h.on(.reply(Self.rows(of: []), inReplyTo: try #require(h.id(of: .featureFetch))))
        #expect(h.jobs.isEmpty)
        #expect(h.released == [2])
        #expect(h.machine.isIdle)
    }

    @Test func aRetrainRequestTrainsOnEveryStoredRowWithoutConsumingBatches() throws {
        var h = Harness()
        h.on(.retrain(RetrainRequest(userID: "writer-1", state: WireBridge.wire(Self.deployment))))
        h.on(.reply(Self.noHead(), inReplyTo: try #require(h.id(of: .headRequest))))
        guard case .featureFetch(let fetch)? = h.sent.first?.message else { return }
        #expect(fetch.afterRow == 0 && fetch.maxSamples == 4096)
        h.on(.reply(Self.features(rows: [1, 2, 3]), inReplyTo: h.sent[0].id))
        #expect(h.jobs.first?.labels.count == 3)
        h.on(.trained(job: h.jobs[0].id, Harness.result()))
        let (commitID, commit) = try #require(Self.commit(h))
        #expect(commit.consumed.isEmpty)
        #expect(commit.metrics.samples == 3)
        h.on(.reply(.commitAck(CommitAck(userID: "writer-1", version: 1, headHash: "x")), inReplyTo: commitID))
        #expect(h.machine.count(.retrains) == 1)
    }

    @Test func batchesWaitForTheBaseModelThenProceed() throws {
        var h = Harness(loaded: false)
        let b1 = Self.batch(seq: 1)
        h.on(.batch(1, b1))
        let request = try #require(h.id(of: .baseModelRequest))
        h.on(.batch(2, Self.batch(seq: 2)))
        #expect(h.sent.isEmpty)  // asked once
        h.on(.reply(.baseModelReply(BaseModelReply(modelVersion: 1, modelHash: "m", status: .ok, checkpoint: [1, 2])), inReplyTo: request))
        #expect(h.actions.contains(.loadModel(ModelVersion(1), checkpoint: [1, 2])))
        h.on(.modelLoaded(ModelVersion(1), Self.contract))
        #expect(h.sent.filter { $0.message.kind == .featureBatch }.count == 2)
    }

    @Test func shutdownTakesNoNewBatchesButFinishesRounds() throws {
        var h = Harness()
        let b1 = Self.batch(seq: 1)
        h.on(.batch(1, b1))
        h.stored(try #require(h.id(of: .featureBatch)), b1)
        let head = try #require(h.id(of: .headRequest))
        h.on(.shutdown)
        h.on(.batch(2, Self.batch(seq: 2)))
        #expect(h.released == [2])
        #expect(!h.machine.isIdle)
        h.on(.reply(Self.noHead(), inReplyTo: head))
        h.on(.reply(Self.rows(of: [b1]), inReplyTo: try #require(h.id(of: .featureFetch))))
        h.on(.trained(job: h.jobs[0].id, Harness.result()))
        h.on(.reply(.commitAck(CommitAck(userID: "writer-1", version: 1, headHash: "x")), inReplyTo: try #require(Self.commit(h)).id))
        #expect(h.released == [1])
        #expect(h.machine.isIdle)
    }
}
