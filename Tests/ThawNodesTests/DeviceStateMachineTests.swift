import Testing
import ThawDeviceProfile
import ThawNN

@testable import ThawNodes

@Suite struct DeviceStateMachineTests {
    @Test func aRepeatedPredictionOnlyRunsTheHead() {
        var device = DeviceStateMachine.ready()
        let first = device.sampleArrived(sampleId: 7, annotated: false, label: 0, now: Fixture.at(1))
        #expect(first.computedSamples == [7])
        let computed = device.backboneComputed(
            sampleId: 7, activation: Fixture.activation(4), checkpoints: [:], modelVersion: .init(1),
            freezePoint: .init(3))
        #expect(computed == [.runHead(sampleId: 7, backboneOutput: Fixture.activation(4))])
        let again = device.predictionRequested(sampleId: 7, now: Fixture.at(2))
        #expect(again == [.runHead(sampleId: 7, backboneOutput: Fixture.activation(4))])
        #expect(device.predictions.hits == 1)
    }

    @Test func flushSendsOnlyCurrentAnnotatedEntriesAndKeepsThemUntilAcked() throws {
        var device = DeviceStateMachine.ready(minimumBatch: 2)
        device.addAnnotated(1)
        #expect(device.tick(now: Fixture.at(1)).sentBatches.isEmpty)  // one pending < minimum batch
        device.addAnnotated(2)
        let actions = device.tick(now: Fixture.at(2))
        let batch = try #require(actions.sentBatches.first)
        #expect(batch.seq == 1 && batch.entries.map(\.sampleId) == [1, 2] && batch.stamp == Fixture.stamp())
        // The snapshot holding the advanced sequence is persisted before the send.
        #expect(
            actions.firstIndex { if case .persistCache = $0 { true } else { false } }!
                < actions.firstIndex { if case .sendBatch = $0 { true } else { false } }!)
        #expect(device.cache[1]?.upload == .inFlight(seq: 1) && device.cache.count == 2)
        #expect(device.batchesDurable(seqs: [1]).persists == 1)
        #expect(device.cache[1]?.upload == .durable(seq: 1))
        #expect(device.batchesDurable(seqs: [1]).isEmpty)  // duplicate ack
        #expect(device.tick(now: Fixture.at(100)).sentBatches.isEmpty)  // nothing to retry
    }

    @Test func aReplayedAnnotationKeepsItsUploadStateSoItIsNotUploadedTwice() throws {
        var device = DeviceStateMachine.ready(minimumBatch: 2)
        device.addAnnotated(1)
        device.addAnnotated(2)
        _ = device.tick(now: Fixture.at(1))
        _ = device.batchesDurable(seqs: [1])
        device.addAnnotated(3)
        device.addAnnotated(4)
        _ = device.tick(now: Fixture.at(2))  // batch 2 in flight
        // A restarted app replays its stream: the same annotations arrive again.
        for id in UInt64(1)...4 {
            #expect(device.sampleArrived(sampleId: id, annotated: true, label: Int(id), now: Fixture.at(3)).isEmpty)
        }
        #expect(device.cache[1]?.upload == .durable(seq: 1) && device.cache[3]?.upload == .inFlight(seq: 2))
        #expect(device.pendingUploads.isEmpty)
        #expect(device.tick(now: Fixture.at(3.5)).sentBatches.isEmpty)
        // A changed label is a new annotation: it goes out again.
        _ = device.sampleArrived(sampleId: 1, annotated: true, label: 9, now: Fixture.at(4))
        #expect(device.pendingUploads.map(\.sampleId) == [1])
    }

    @Test func unacknowledgedBatchesAreResentUnderTheSameSequence() {
        var device = DeviceStateMachine.ready(minimumBatch: 1)
        device.addAnnotated(1)
        #expect(device.tick(now: Fixture.at(0)).sentBatches.map(\.seq) == [1])
        #expect(device.tick(now: Fixture.at(1)).sentBatches.isEmpty)
        let retry = device.tick(now: Fixture.at(2)).sentBatches
        #expect(retry.map(\.seq) == [1] && retry.first?.attempt == 2)
        #expect(device.tick(now: Fixture.at(5)).sentBatches.isEmpty)  // next retry at 2 + 4 s
        #expect(device.tick(now: Fixture.at(6)).sentBatches.first?.attempt == 3)
        #expect(device.statistics.batchRetries == 2)
    }

    @Test func lowBatteryDefersFlushUntilCharging() {
        var device = DeviceStateMachine.ready(minimumBatch: 1, battery: .init(capacityJoules: 1000, levelJoules: 100))
        device.addAnnotated(1)
        #expect(device.tick(now: Fixture.at(1)).sentBatches.isEmpty)
        #expect(device.flushDecision(now: Fixture.at(1)) == .wait(.lowBattery))
        device.powerChanged(chargingWatts: 5)
        #expect(device.tick(now: Fixture.at(2)).sentBatches.count == 1)
        device.transferred(bytesUp: 4096, bytesDown: 0, now: Fixture.at(2))  // the glue reports the bytes sent
        _ = device.tick(now: Fixture.at(3))
        #expect(device.ledger[.radioTransfer] > 0 && device.ledger[.radioTail] > 0 && device.ledger[.idle] > 0)
    }

    @Test func aFullOutboxMakesTheDeviceWait() {
        var device = DeviceStateMachine(
            configuration: DeviceConfiguration(
                layerCount: 6, flush: FlushPolicy(minimumBatch: 1), maximumBatchSize: 1, outboxCapacity: 2))
        _ = device.deploymentObserved(Fixture.state(), now: Fixture.at(0))
        for id in UInt64(1)...3 { device.addAnnotated(id) }
        #expect(device.tick(now: Fixture.at(1)).sentBatches.map(\.seq) == [1, 2])
        #expect(device.flushDecision(now: Fixture.at(1)) == .wait(.outboxFull))
        _ = device.batchesDurable(seqs: [1])
        #expect(device.tick(now: Fixture.at(1.5)).sentBatches.map(\.seq) == [3])
    }

    @Test func lateJoinerConvergesFromAHeartbeat() {
        // A device that last saw epoch 1 (v1, k=3) misses a model announce and a freeze move.
        var device = DeviceStateMachine.ready()
        device.addAnnotated(1)
        device.addAnnotated(2)
        let heartbeat = Fixture.state(version: 2, freeze: 2, epoch: 5)
        let actions = device.deploymentObserved(heartbeat, now: Fixture.at(10))
        #expect(actions.contains(.loadBackbone(modelVersion: ModelVersion(2), modelHash: "model-2")))
        #expect(actions.computedSamples == [1, 2])  // old-model activations evicted, recomputed from raw
        #expect(actions.contains(.discardPredictions) && actions.headRequests == 1)
        #expect(device.deployment == heartbeat && device.cache.count == 0)
        // The broadcasts it missed arrive late, out of order: older epochs are ignored.
        #expect(device.deploymentObserved(Fixture.state(version: 2, freeze: 3, epoch: 4), now: Fixture.at(11)).isEmpty)
        #expect(device.deploymentObserved(heartbeat, now: Fixture.at(12)).isEmpty)
        // Results computed for the old split are dropped; the new ones are accepted.
        #expect(
            device.backboneComputed(
                sampleId: 1, activation: Fixture.activation(4), checkpoints: [:], modelVersion: .init(1),
                freezePoint: .init(3)
            ).isEmpty)
        #expect(device.statistics.staleResultsDropped == 1 && device.cache[1] == nil)
        device.addAnnotated(1)
        #expect(device.cache[1]?.stamp == ActivationStamp(heartbeat))
    }

    @Test func aFreshDeviceWaitsForItsFirstDeploymentState() {
        var device = DeviceStateMachine(configuration: DeviceConfiguration(layerCount: 6))
        #expect(device.sampleArrived(sampleId: 1, annotated: true, label: 3, now: Fixture.at(0)).isEmpty)
        #expect(device.tick(now: Fixture.at(1)).isEmpty)
        let actions = device.deploymentObserved(Fixture.state(), now: Fixture.at(2))
        #expect(actions.computedSamples == [1] && actions.headRequests == 1)
    }

    @Test func aPredictionOnlySampleRecordsNoCheckpoints() {
        var device = DeviceStateMachine.ready(checkpoints: [1, 2, 4])
        // Nothing a freeze move could advance: its output is recomputed from the raw input if needed.
        let request = device.sampleArrived(sampleId: 7, annotated: false, label: 1, now: Fixture.at(0))
        #expect(
            request == [.computeBackbone(sampleId: 7, modelVersion: .init(1), upTo: .init(3), checkpointsAt: [])])
    }

    @Test func anAnnouncedHeadIsPulledOnlyWhenItChangedAndFitsTheDeployment() {
        var device = DeviceStateMachine.ready()
        // Another freeze point or model: nothing to pull.
        #expect(device.headAnnounced(hash: "x", modelVersion: .init(1), freezePoint: .init(4), now: Fixture.at(1)).isEmpty)
        #expect(device.headAnnounced(hash: "x", modelVersion: .init(2), freezePoint: .init(3), now: Fixture.at(1)).isEmpty)
        #expect(
            device.headAnnounced(hash: "x", modelVersion: .init(1), freezePoint: .init(3), now: Fixture.at(1))
                == [.requestHead(haveHash: nil)])
        let held = HeadInfo(version: 1, hash: "x", freezePoint: .init(3), modelVersion: .init(1))
        #expect(device.headReceived(held) == [.swapHead(held)])
        // The head in use announced again (a replay): no pull.
        #expect(device.headAnnounced(hash: "x", modelVersion: .init(1), freezePoint: .init(3), now: Fixture.at(2)).isEmpty)
        #expect(
            device.headAnnounced(hash: "y", modelVersion: .init(1), freezePoint: .init(3), now: Fixture.at(3))
                == [.requestHead(haveHash: "x")])
    }

    @Test func freezeMoveRebuildsFromTheNearestCheckpoint() throws {
        var device = DeviceStateMachine.ready(checkpoints: [1, 2, 4])
        let request = device.sampleArrived(sampleId: 1, annotated: true, label: 1, now: Fixture.at(0))
        // Only checkpoints below k=3 are asked for.
        #expect(
            request == [.computeBackbone(sampleId: 1, modelVersion: .init(1), upTo: .init(3), checkpointsAt: [1, 2])])
        _ = device.backboneComputed(
            sampleId: 1, activation: Fixture.activation(4),
            checkpoints: [1: Fixture.activation(8), 2: Fixture.activation(6)],
            modelVersion: .init(1), freezePoint: .init(3))
        let moved = device.deploymentObserved(Fixture.state(freeze: 2, epoch: 2), now: Fixture.at(1))
        // A shallower move first asks the registry what it lacks; here it lacks sample 1.
        #expect(moved.contains(.syncFreezeMove(stamp: Fixture.stamp(freeze: 2), sampleIds: [1])))
        #expect(moved.rebuildPlan == nil)
        let synced = device.freezeSyncReceived(stamp: Fixture.stamp(freeze: 2), missing: [1])
        let plan = try #require(synced.rebuildPlan)
        #expect(plan.target == FreezePoint(2) && plan.steps.first?.startLayer == 2 && plan.layerRuns == 0)
        #expect(moved.computedSamples.isEmpty)  // no raw recomputation needed
        #expect(device.pendingUploads.isEmpty)  // stale until rebuilt
        _ = device.backboneComputed(
            sampleId: 1, activation: Fixture.activation(6), checkpoints: [:], modelVersion: .init(1),
            freezePoint: .init(2))
        #expect(device.pendingUploads.map(\.sampleId) == [1])
        #expect(device.cache[1]?.checkpoints.keys.sorted() == [1, 2])
    }

    @Test func aRejectedBatchIsRecomputedAndResentWithNewStamps() {
        var device = DeviceStateMachine.ready(minimumBatch: 1)
        device.addAnnotated(1)
        #expect(device.tick(now: Fixture.at(0)).sentBatches.map(\.seq) == [1])
        let current = Fixture.state(freeze: 4, epoch: 2)
        let actions = device.batchRejected(seq: 1, reason: .staleFreezePoint, current: current, now: Fixture.at(1))
        #expect(actions.rebuildPlan?.steps.map(\.sampleId) == [1])
        #expect(device.outbox.count == 0 && device.cache[1]?.upload == .pending)
        _ = device.backboneComputed(
            sampleId: 1, activation: Fixture.activation(4), checkpoints: [:], modelVersion: .init(1),
            freezePoint: .init(4))
        let resent = device.tick(now: Fixture.at(2)).sentBatches
        #expect(resent.map(\.seq) == [2] && resent.first?.stamp == ActivationStamp(current))
    }

    @Test func anInvalidBatchIsRecomputedFromTheRawInput() {
        var device = DeviceStateMachine.ready(minimumBatch: 1)
        device.addAnnotated(1)
        _ = device.tick(now: Fixture.at(0))
        let actions = device.batchRejected(seq: 1, reason: .invalid, current: Fixture.state(), now: Fixture.at(1))
        #expect(actions.computedSamples == [1] && device.cache[1] == nil)
    }

    @Test func aStaleHeadIsNeverSwappedIn() {
        var device = DeviceStateMachine.ready()
        let wrongPoint = HeadInfo(version: 1, hash: "a", freezePoint: .init(4), modelVersion: .init(1))
        let wrongModel = HeadInfo(version: 1, hash: "b", freezePoint: .init(3), modelVersion: .init(0))
        #expect(device.headReceived(wrongPoint).isEmpty && device.headReceived(wrongModel).isEmpty)
        #expect(device.statistics.staleHeadsIgnored == 2 && device.head == nil)
        let good = HeadInfo(version: 2, hash: "c", freezePoint: .init(3), modelVersion: .init(1))
        #expect(device.headReceived(good) == [.swapHead(good)])
        #expect(device.headReceived(good).isEmpty)  // same hash: nothing to do
        // After a freeze move the held head is dropped and an old-point head is refused.
        let moved = device.deploymentObserved(Fixture.state(freeze: 4, epoch: 2), now: Fixture.at(1))
        #expect(moved.contains(.requestHead(haveHash: nil)) && device.head == nil)
        #expect(device.headReceived(good).isEmpty)
    }

    @Test func headsArePulledPeriodically() {
        var device = DeviceStateMachine.ready()  // the deployment itself triggered a request at t=0
        #expect(device.tick(now: Fixture.at(29)).headRequests == 0)
        #expect(device.tick(now: Fixture.at(30)).headRequests == 1)
        #expect(device.tick(now: Fixture.at(45)).headRequests == 0)
        #expect(device.tick(now: Fixture.at(60)).headRequests == 1)
    }

    @Test func hyperParameterChangeEvictsAndRecomputes() {
        var device = DeviceStateMachine.ready()
        device.addAnnotated(1)
        let actions = device.deploymentObserved(Fixture.state(hyper: "h2", epoch: 2), now: Fixture.at(1))
        #expect(device.cache[1] == nil && actions.computedSamples == [1])
    }

    @Test func terminationKeepsOnlyAnnotatedEntriesAcrossARestart() throws {
        var device = DeviceStateMachine.ready()
        device.addAnnotated(1)
        _ = device.sampleArrived(sampleId: 2, annotated: false, label: 0, now: Fixture.at(0))
        _ = device.backboneComputed(
            sampleId: 2, activation: Fixture.activation(4), checkpoints: [:], modelVersion: .init(1),
            freezePoint: .init(3))
        #expect(device.cache.count == 2)
        let actions = device.terminate()
        guard case .persistCache(let snapshot) = try #require(actions.first) else {
            Issue.record("expected a persist")
            return
        }
        #expect(snapshot.entries.map(\.sampleId) == [1])
        let bytes = DeviceCacheStore.encode(snapshot)
        let restarted = DeviceStateMachine(
            configuration: device.configuration, restoring: try DeviceCacheStore.decode(bytes, path: "mem"))
        #expect(restarted.cache.allEntries.map(\.sampleId) == [1] && restarted.deployment == Fixture.state())
    }

    @Test func invalidatedSamplesAreForgotten() {
        var device = DeviceStateMachine.ready()
        device.addAnnotated(1)
        device.addAnnotated(2)
        #expect(device.invalidation(sampleIds: [2, 99]).persists == 1)
        #expect(device.cache[2] == nil && device.annotatedLabels[2] == nil && device.cache[1] != nil)
        #expect(device.invalidation(sampleIds: [99]).isEmpty)
    }

    @Test func annotatedSamplesEvictedForSpaceAreRecomputedAfterAMove() {
        var device = DeviceStateMachine(
            configuration: DeviceConfiguration(
                layerCount: 6, cacheCapacityBytes: 32, flush: FlushPolicy(minimumBatch: 1)))
        _ = device.deploymentObserved(Fixture.state(), now: Fixture.at(0))
        device.addAnnotated(1)  // 16 bytes
        _ = device.tick(now: Fixture.at(1))
        _ = device.batchesDurable(seqs: [1])
        device.addAnnotated(2)
        device.addAnnotated(3)  // 48 bytes > 32: the durable entry 1 makes room
        #expect(device.cache[1] == nil && device.annotatedLabels[1] == 1)
        let moved = device.deploymentObserved(Fixture.state(freeze: 2, epoch: 2), now: Fixture.at(2))
        #expect(moved.computedSamples == [1])  // from the raw input
        let synced = device.freezeSyncReceived(stamp: Fixture.stamp(freeze: 2), missing: [2, 3])
        #expect(synced.rebuildPlan?.steps.map(\.sampleId) == [2, 3])  // from their activations
    }
}
