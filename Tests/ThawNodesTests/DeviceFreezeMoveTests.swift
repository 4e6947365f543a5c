import Testing
import ThawNN

@testable import ThawNodes

/// The device's side of freeze moves (docs/FREEZE-MOVES.md): deeper moves advance the cache without
/// re-uploading, shallower moves rebuild and upload only what the registry lacks.
@Suite struct DeviceFreezeMoveTests {
    /// Three annotated samples at k=3: 1 durable, 2 in flight (batch 2), 3 never sent.
    static func deviceWithMixedUploads(checkpoints: [Int] = [1, 2]) -> DeviceStateMachine {
        var device = DeviceStateMachine.ready(minimumBatch: 1, checkpoints: checkpoints)
        let marks = [1: Fixture.activation(8), 2: Fixture.activation(6)].filter { checkpoints.contains($0.key) }
        device.addAnnotated(1, checkpoints: marks)
        #expect(device.tick(now: Fixture.at(1)).sentBatches.map(\.seq) == [1])
        _ = device.batchesDurable(seqs: [1])
        device.addAnnotated(2, checkpoints: marks)
        #expect(device.tick(now: Fixture.at(1.5)).sentBatches.map(\.seq) == [2])
        // Sample 3 is cached but not flushed yet.
        _ = device.sampleArrived(sampleId: 3, annotated: true, label: 3, now: Fixture.at(1.6))
        _ = device.backboneComputed(
            sampleId: 3, activation: Fixture.activation(4, value: 3), checkpoints: marks, modelVersion: .init(1),
            freezePoint: .init(3))
        return device
    }

    @Test func aDeeperMoveAdvancesEveryEntryFromItsOwnActivationAndKeepsUploadState() throws {
        var device = DeviceStateMachine.ready(minimumBatch: 5, checkpoints: [1, 2])
        device.addAnnotated(1)
        device.addAnnotated(2)
        _ = device.tick(now: Fixture.at(100))  // age-based flush: batch 1 carries samples 1 and 2
        _ = device.batchesDurable(seqs: [1])
        device.addAnnotated(3)
        #expect(device.cache[3]?.upload == .pending)

        let moved = device.deploymentObserved(Fixture.state(freeze: 5, epoch: 2), now: Fixture.at(101))
        let plan = try #require(moved.rebuildPlan)
        #expect(plan.steps.map(\.sampleId) == [1, 2, 3])
        #expect(plan.steps.allSatisfy { $0.startLayer == 3 })  // from the entry's own activation, not raw
        #expect(plan.layerRuns == 6)
        #expect(moved.computedSamples.isEmpty)
        #expect(!moved.contains { if case .syncFreezeMove = $0 { true } else { false } })
        for id: UInt64 in [1, 2, 3] {
            _ = device.backboneComputed(
                sampleId: id, activation: Fixture.activation(2), checkpoints: [:], modelVersion: .init(1),
                freezePoint: .init(5))
        }
        // The durable entries stay durable (the cloud advances its copy); only the never-sent one uploads.
        #expect(device.cache[1]?.upload == .durable(seq: 1) && device.cache[2]?.upload == .durable(seq: 1))
        #expect(device.pendingUploads.map(\.sampleId) == [3])
    }

    @Test func aDeeperMoveResendsAnInFlightBatchUnderTheSameSequenceWithNewStamps() {
        var device = DeviceStateMachine.ready(minimumBatch: 1)
        device.addAnnotated(1)
        #expect(device.tick(now: Fixture.at(0)).sentBatches.map(\.seq) == [1])
        _ = device.deploymentObserved(Fixture.state(freeze: 4, epoch: 2), now: Fixture.at(1))
        #expect(device.outbox[1]?.stamp == Fixture.stamp(freeze: 4))
        #expect(device.cache[1]?.upload == .inFlight(seq: 1))
        _ = device.backboneComputed(
            sampleId: 1, activation: Fixture.activation(2), checkpoints: [:], modelVersion: .init(1),
            freezePoint: .init(4))
        let retry = device.tick(now: Fixture.at(5)).sentBatches
        #expect(retry.map(\.seq) == [1] && retry.first?.stamp == Fixture.stamp(freeze: 4))
        #expect(retry.first?.entries.first?.activation == Fixture.activation(2))
        #expect(device.statistics.batchesSent == 1)  // a re-send, not a new upload
    }

    @Test func aShallowerMoveRebuildsAndUploadsOnlyWhatTheRegistryLacks() throws {
        var device = Self.deviceWithMixedUploads()
        let moved = device.deploymentObserved(Fixture.state(freeze: 2, epoch: 2), now: Fixture.at(2))
        #expect(moved.contains(.syncFreezeMove(stamp: Fixture.stamp(freeze: 2), sampleIds: [1, 2, 3])))
        #expect(moved.rebuildPlan == nil && moved.computedSamples.isEmpty)
        #expect(device.outbox.count == 0)  // batch 2 at k=3 is useless now
        // Stale answers are ignored.
        #expect(device.freezeSyncReceived(stamp: Fixture.stamp(freeze: 1), missing: [1]).isEmpty)

        // The registry already holds sample 1 at k=2 (uploaded there before an earlier move).
        let synced = device.freezeSyncReceived(stamp: Fixture.stamp(freeze: 2), missing: [2, 3])
        let plan = try #require(synced.rebuildPlan)
        #expect(plan.steps.map(\.sampleId) == [2, 3])
        #expect(plan.steps.allSatisfy { $0.startLayer == 2 })  // from the checkpoint at layer 2
        #expect(device.cache[1]?.upload == .durable(seq: 1) && device.statistics.uploadsSavedBySync == 1)
        for id: UInt64 in [2, 3] {
            _ = device.backboneComputed(
                sampleId: id, activation: Fixture.activation(6), checkpoints: [:], modelVersion: .init(1),
                freezePoint: .init(2))
        }
        let sent = device.tick(now: Fixture.at(3)).sentBatches
        #expect(sent.flatMap { $0.entries.map(\.sampleId) }.sorted() == [2, 3])
        #expect(sent.allSatisfy { $0.stamp == Fixture.stamp(freeze: 2) })
    }

    @Test func withoutACheckpointAShallowerMoveRecomputesFromTheRawInput() throws {
        var device = Self.deviceWithMixedUploads(checkpoints: [])
        _ = device.deploymentObserved(Fixture.state(freeze: 2, epoch: 2), now: Fixture.at(2))
        let plan = try #require(device.freezeSyncReceived(stamp: Fixture.stamp(freeze: 2), missing: [3]).rebuildPlan)
        #expect(plan.steps == [RebuildPlan.Step(sampleId: 3, source: .rawInput)])
    }

    @Test func aPredictionForAnEntryLeftBehindRunsOnlyTheLayersFromItsCheckpoint() throws {
        var device = Self.deviceWithMixedUploads()
        _ = device.deploymentObserved(Fixture.state(freeze: 2, epoch: 2), now: Fixture.at(2))
        _ = device.freezeSyncReceived(stamp: Fixture.stamp(freeze: 2), missing: [])
        let asked = device.predictionRequested(sampleId: 1, now: Fixture.at(3))
        let plan = try #require(asked.rebuildPlan)
        #expect(plan.steps.map(\.sampleId) == [1] && plan.steps.first?.startLayer == 2 && plan.layerRuns == 0)
        let answered = device.backboneComputed(
            sampleId: 1, activation: Fixture.activation(6), checkpoints: [:], modelVersion: .init(1),
            freezePoint: .init(2))
        #expect(answered.contains { if case .runHead(1, _) = $0 { true } else { false } })
        #expect(device.cache[1]?.upload == .durable(seq: 1))  // served, not re-uploaded
        #expect(device.pendingUploads.isEmpty)
    }

    @Test func aRejectionFromAWorkerThatMissedTheMoveKeepsTheBatch() {
        var device = DeviceStateMachine.ready(minimumBatch: 1)
        _ = device.deploymentObserved(Fixture.state(freeze: 4, epoch: 2), now: Fixture.at(0))
        device.addAnnotated(1)
        #expect(device.tick(now: Fixture.at(1)).sentBatches.map(\.seq) == [1])
        let behind = Fixture.state(freeze: 3, epoch: 1)
        #expect(device.batchRejected(seq: 1, reason: .staleFreezePoint, current: behind, now: Fixture.at(2)).isEmpty)
        #expect(device.outbox.count == 1 && device.statistics.rejectionsFromBehind == 1)
    }

    @Test func freezeMovesAreClassifiedOnlyWithinOneModelAndRecipe() {
        let base = Fixture.state(freeze: 4)
        #expect(FreezeMove(from: base, to: Fixture.state(freeze: 5, epoch: 2)) == .deeper)
        #expect(FreezeMove(from: base, to: Fixture.state(freeze: 2, epoch: 2)) == .shallower)
        #expect(FreezeMove(from: base, to: Fixture.state(version: 2, freeze: 5, epoch: 2)) == .other)
        #expect(FreezeMove(from: base, to: Fixture.state(freeze: 5, hyper: "h2", epoch: 2)) == .other)
        #expect(FreezeMove(from: nil, to: base) == .other)
    }
}

/// What a worker does with a batch stamped differently from its deployment.
@Suite struct StaleBatchFenceTests {
    static let current = Fixture.state(freeze: 5, epoch: 4)

    @Test func decidesByModelRecipeFreezePointAndEpoch() {
        typealias F = StaleBatchFence
        #expect(F.decide(batch: Fixture.stamp(freeze: 5), epoch: 4, current: Self.current) == .accept)
        #expect(
            F.decide(batch: Fixture.stamp(freeze: 3), epoch: 3, current: Self.current)
                == .advance(from: FreezePoint(3), to: FreezePoint(5)))
        #expect(
            F.decide(batch: Fixture.stamp(freeze: 6), epoch: 3, current: Self.current) == .reject(.staleFreezePoint))
        #expect(F.decide(batch: Fixture.stamp(version: 0, freeze: 5), current: Self.current) == .reject(.staleModel))
        #expect(F.decide(batch: Fixture.stamp(freeze: 5, hyper: "h0"), current: Self.current) == .reject(.staleHyper))
        // The device saw a newer deployment than the worker: neither advance nor reject.
        #expect(F.decide(batch: Fixture.stamp(freeze: 3), epoch: 5, current: Self.current) == .leaveForRetry)
        #expect(F.decide(batch: Fixture.stamp(version: 2, freeze: 5), current: Self.current) == .leaveForRetry)
    }
}
