import Foundation
import Testing
import ThawData
import ThawNN

@testable import ThawNodes

/// The device process's control-before-work pieces that need no sockets: the inbox's order, and the
/// evaluation and rebuild jobs that run on the compute queue instead of the fleet's task.
@Suite struct FleetComputeTests {
    // MARK: - Inbox

    @Test func controlEventsAreDrainedBeforeWorkAndEndASlice() {
        let inbox = FleetInbox()
        #expect(!inbox.controlPending)
        inbox.put(.committed(error: "first"))
        #expect(!inbox.controlPending)
        inbox.put(.committed(error: "second"))
        inbox.put(.shutdown)
        #expect(inbox.controlPending)
        let drained = inbox.drain()
        #expect(!inbox.controlPending)
        #expect(drained.count == 3)
        guard drained.count == 3 else { return }
        // The shutdown first, then the other events in their arrival order.
        #expect(drained[0].isControl)
        if case .committed(let error) = drained[1] { #expect(error == "first") } else { Issue.record("\(drained[1])") }
        if case .committed(let error) = drained[2] { #expect(error == "second") } else { Issue.record("\(drained[2])") }
        #expect(inbox.drain().isEmpty)
    }

    @Test func controlIsTakenOutAheadOfTheEventsStillWaiting() {
        let inbox = FleetInbox()
        #expect(inbox.takeControl().isEmpty)
        inbox.put(.committed(error: "a"))
        inbox.put(.closed)
        inbox.put(.committed(error: "b"))
        let control = inbox.takeControl()
        #expect(control.count == 1 && control.allSatisfy(\.isControl))
        #expect(!inbox.controlPending)
        let rest = inbox.drain().map { event -> String? in
            if case .committed(let error) = event { return error }
            return nil
        }
        #expect(rest == ["a", "b"])
    }

    @Test func withoutControlTheArrivalOrderStays() {
        let inbox = FleetInbox()
        for tag in ["a", "b", "c"] { inbox.put(.committed(error: tag)) }
        let tags = inbox.drain().map { event -> String? in
            if case .committed(let error) = event { return error }
            return nil
        }
        #expect(tags == ["a", "b", "c"])
    }

    @Test func aJobOnTheComputeQueueHandsItsResultToTheInbox() async {
        let inbox = FleetInbox()
        let compute = FleetCompute(label: "test.compute")
        for tag in ["x", "y"] { compute.submit { inbox.put(.committed(error: tag)) } }
        // `run` returns after every job submitted before it.
        await compute.run {}
        let tags = inbox.drain().map { event -> String? in
            if case .committed(let error) = event { return error }
            return nil
        }
        #expect(tags == ["x", "y"])
    }

    @Test func theComputeQueueCountsWhatIsQueuedUntilItRan() async {
        let compute = FleetCompute(label: "test.pending")
        let gate = DispatchSemaphore(value: 0)
        compute.submit { gate.wait() }
        compute.submit {}
        compute.submit {}
        #expect(compute.pending == 3)
        gate.signal()
        await compute.run {}
        #expect(compute.pending == 0)
    }

    /// Pulls in flight and pulled heads waiting for their checks share one window: a compute queue that
    /// falls behind stops new pulls instead of queueing one 6.4 MB reply per announcement.
    @Test func headPullsStopWhileTheWindowIsTakenByChecks() {
        let window = DeviceFleet.maximumInFlight
        #expect(DeviceFleet.mayPull(inFlight: 0, headChecksQueued: 0))
        #expect(DeviceFleet.mayPull(inFlight: window - 1, headChecksQueued: 0))
        #expect(!DeviceFleet.mayPull(inFlight: window, headChecksQueued: 0))
        #expect(!DeviceFleet.mayPull(inFlight: 0, headChecksQueued: window))
        #expect(!DeviceFleet.mayPull(inFlight: window / 2, headChecksQueued: window / 2))
        #expect(DeviceFleet.mayPull(inFlight: window / 2, headChecksQueued: window / 2 - 1))
    }

    @Test func recentUnitsNameWhatABroadcastWaitedFor() {
        let units = { () -> RecentUnits in
            var units = RecentUnits()
            let start = ContinuousClock.now
            units.note("phone", ms: 3, ended: start - .milliseconds(5))
            units.note("backbone", ms: 12.34, ended: start + .milliseconds(12))
            units.note("slice", ms: 4, ended: start + .milliseconds(16))
            return units
        }()
        // Only what ended after the broadcast arrived is what it waited for.
        let waited = units.overlapping(since: ContinuousClock.now - .milliseconds(1))
        #expect(waited.count >= 2)
        #expect(waited.contains("backbone:12.3"))
        var many = RecentUnits()
        for index in 0..<100 { many.note("u\(index)", ms: 1, ended: .now) }
        #expect(many.overlapping(since: .now - .seconds(60)).count == RecentUnits.kept)
    }

    // MARK: - Backbone queue

    private static func request(_ phone: Int, version: UInt64 = 1, freeze: Int = 7, checkpoints: [Int] = []) -> BackboneRequest {
        BackboneRequest(
            phone: phone, sampleId: UInt64(phone), modelVersion: ModelVersion(version), freezePoint: FreezePoint(freeze),
            checkpointsAt: checkpoints)
    }

    @Test func batchesTakeOneKeyOldestFirstInArrivalOrder() {
        var queue = BackboneQueue()
        queue.append(Self.request(0))
        queue.append(Self.request(1, checkpoints: [3]))
        queue.append(Self.request(2))
        queue.append(Self.request(3, checkpoints: [3]))
        queue.append(Self.request(4, freeze: 6))
        #expect(queue.count == 5)
        // The oldest request's key first, every request of it (in order), up to the limit.
        #expect(queue.takeBatch(limit: 128).map(\.phone) == [0, 2])
        #expect(queue.takeBatch(limit: 1).map(\.phone) == [1])
        #expect(queue.takeBatch(limit: 128).map(\.phone) == [3])
        #expect(queue.takeBatch(limit: 128).map(\.phone) == [4])
        #expect(queue.isEmpty)
        #expect(queue.takeBatch(limit: 128).isEmpty)
    }

    @Test func aLongQueueStaysCompactAndCountsExactly() {
        var queue = BackboneQueue()
        for phone in 0..<5000 { queue.append(Self.request(phone)) }
        var taken: [Int] = []
        while taken.count < 3000 { taken += queue.takeBatch(limit: 128).map(\.phone) }
        for phone in 5000..<5100 { queue.append(Self.request(phone)) }
        #expect(queue.count == 5100 - taken.count)
        while !queue.isEmpty { taken += queue.takeBatch(limit: 128).map(\.phone) }
        #expect(taken == Array(0..<5100))
    }

    @Test func requestsForAnotherModelAreDropped() {
        var queue = BackboneQueue()
        queue.append(Self.request(0, version: 1))
        queue.append(Self.request(1, version: 2))
        queue.append(Self.request(2, version: 1))
        queue.removeAll { $0.modelVersion != ModelVersion(2) }
        #expect(queue.count == 1)
        #expect(queue.takeBatch(limit: 128).map(\.phone) == [1])
    }

    // MARK: - Evaluation and rebuild jobs

    /// 2×2 images, 3 classes: flatten (0), dense (1), relu (2), dense (3).
    private static let architecture = ModelArchitecture(
        inputShape: [1, 2, 2], layers: [.flatten, .dense(inputs: 4, outputs: 8), .relu, .dense(inputs: 8, outputs: 3)])

    private static func dataset(samples: Int) -> HandwritingDataset {
        var generator = SeededGenerator(seed: 5)
        let pixels = (0..<(4 * samples)).map { _ in UInt8(generator.next() % 256) }
        let labels = (0..<samples).map { UInt8($0 % 3) }
        let test = HandwritingSamples(
            rows: 2, columns: 2, pixels: pixels, labels: labels, writers: [UInt16](repeating: 1, count: samples))
        return HandwritingDataset(train: test, test: test)
    }

    @Test func anEvaluationJobMatchesTheModelsOwnAndRestoresTheBaseHead() {
        let dataset = Self.dataset(samples: 12)
        let model = Model(architecture: Self.architecture, seed: 3)
        let freezePoint = FreezePoint(3)
        let stamp = ActivationStamp(modelVersion: ModelVersion(1), freezePoint: freezePoint, hyperParameterHash: "h")
        let samples = Array(0..<12)
        let raw = Tensor(shape: [12, 1, 2, 2], scalars: dataset.test.floatPixels(samples))
        let base = model.headParameters(from: freezePoint)
        let head = base.map { -$0 }

        let reference = Model(architecture: Self.architecture, parameters: model.parameters)
        reference.setHeadParameters(head, from: freezePoint)
        let expected = reference.evaluate(raw, labels: dataset.test.intLabels(samples)).accuracy

        let inputs = EvaluationInputs(capacity: 1)
        let slot = BackboneModel(version: ModelVersion(1), model: model)
        let key = EvaluationKey(user: UserID("writer-1"), head: "h1", stamp: stamp)
        let result = EvaluationJob(key: key, samples: samples, head: head).run(on: slot, inputs: inputs, dataset: dataset)
        #expect(result.key == key)
        #expect(abs(result.accuracy - expected) < 1e-9)
        // The head stays loaded for the next job that wants it; the base comes back when one wants it.
        #expect(model.headParameters(from: freezePoint) == head)
        let baseResult = EvaluationJob(key: key, samples: samples, head: nil).run(on: slot, inputs: inputs, dataset: dataset)
        #expect(model.headParameters(from: freezePoint) == base)
        #expect(abs(baseResult.accuracy - model.evaluate(raw, labels: dataset.test.intLabels(samples)).accuracy) < 1e-9)
    }

    @Test func aHeadLoadedAtAShallowerPointNeverReachesABackbonePass() {
        let model = Model(architecture: Self.architecture, seed: 3)
        let original = model.parameters
        let slot = BackboneModel(version: ModelVersion(1), model: model)
        let shallow = FreezePoint(1)
        let head = model.headParameters(from: shallow).map { $0 + 1 }
        slot.load(head: head, key: "h", freezePoint: shallow)
        #expect(model.parameters != original)
        // A pass over layers 0..<3 needs layers 1 and 2 to be the base model's.
        slot.baseBelow(FreezePoint(3))
        #expect(model.parameters == original)
        // At or below the loaded point the head may stay.
        slot.load(head: head, key: "h", freezePoint: shallow)
        slot.baseBelow(shallow)
        #expect(model.headParameters(from: shallow) == head)
        // A head that does not fit the split is not loaded: the base is used.
        slot.load(head: [1, 2, 3], key: "bad", freezePoint: FreezePoint(3))
        #expect(model.parameters == original)
    }

    @Test func evaluationInputsAreBoundedAndRecomputedUnderANewStamp() {
        let dataset = Self.dataset(samples: 6)
        let model = Model(architecture: Self.architecture, seed: 3)
        let one = ActivationStamp(modelVersion: ModelVersion(1), freezePoint: FreezePoint(3), hyperParameterHash: "h")
        let two = ActivationStamp(modelVersion: ModelVersion(1), freezePoint: FreezePoint(1), hyperParameterHash: "h")
        let inputs = EvaluationInputs(capacity: 2)
        for user in 0..<5 {
            _ = inputs.inputs(user: UserID("u\(user)"), stamp: one, samples: [0, 1], dataset: dataset, model: model)
        }
        #expect(inputs.count == 2)
        let deep = inputs.inputs(user: UserID("u4"), stamp: one, samples: [0, 1], dataset: dataset, model: model)
        #expect(deep.inputs.shape == [2, 8])
        let shallow = inputs.inputs(user: UserID("u4"), stamp: two, samples: [0, 1], dataset: dataset, model: model)
        #expect(shallow.inputs.shape == [2, 4])
        #expect(shallow.labels == [0, 1])
        #expect(inputs.count == 2)
    }

    @Test func aRebuildJobAdvancesEachStepLikeTheModelAndCountsItsFLOPs() {
        let dataset = Self.dataset(samples: 4)
        let model = Model(architecture: Self.architecture, seed: 3)
        let stored = model.forward(
            Tensor(shape: [1, 1, 2, 2], scalars: dataset.test.floatPixels([2])), layers: 0..<2, training: false)
        let plan = RebuildPlan(
            modelVersion: ModelVersion(1), target: FreezePoint(3),
            steps: [
                .init(sampleId: 1, source: .rawInput),
                .init(sampleId: 2, source: .activation(layer: 2, Activation(shape: stored.sampleShape, scalars: stored.scalars))),
            ])
        let result = plan.run(phone: 7, on: BackboneModel(version: ModelVersion(1), model: model), dataset: dataset)
        #expect(result.phone == 7)
        #expect(result.outputs.count == 2)
        for (row, sample) in [1, 2].enumerated() {
            let expected = model.forward(
                Tensor(shape: [1, 1, 2, 2], scalars: dataset.test.floatPixels([sample])), layers: 0..<3, training: false)
            #expect(result.outputs[row].shape == expected.sampleShape)
            #expect(zip(result.outputs[row].scalars, expected.scalars).allSatisfy { abs($0 - $1) < 1e-5 })
        }
        // From the raw input costs more than from a stored activation.
        #expect(result.flops[0].forward > result.flops[1].forward)
    }

    // MARK: - Heads

    @Test func bytesVerifiedUnderAHashAreKnownAndOthersAreNot() {
        let verifications = HeadVerifications(capacity: 2)
        let head: [Float] = [1, 2, 3]
        #expect(!verifications.verified(head, hash: "h"))
        verifications.record(head, hash: "h")
        #expect(verifications.verified(head, hash: "h"))
        #expect(verifications.verified([1, 2, 3], hash: "h"))
        // Other bytes under the same hash, or the same bytes under another hash, are checked again.
        #expect(!verifications.verified([1, 2, 4], hash: "h"))
        #expect(!verifications.verified(head, hash: "other"))
        #expect(DeviceFleet.sameScalars([], []))
        #expect(!DeviceFleet.sameScalars([1], [1, 1]))
    }
}

/// The send queue stops encoding a worker's batches for a moment after the socket loop dropped one.
@Suite struct SendGateTests {
    @Test func aDropClosesTheLastWorkersGateForThePause() {
        let gate = SendGate()
        let start = ContinuousClock.now
        #expect(gate.open(0, dropped: 0, now: start))
        gate.handed(to: 0)
        // A drop after worker 0's batch: worker 0 waits, worker 1 does not.
        #expect(!gate.open(0, dropped: 3, now: start))
        #expect(gate.open(1, dropped: 3, now: start))
        gate.handed(to: 1)
        #expect(!gate.open(0, dropped: 3, now: start + DeviceFleet.sendPause / 2))
        #expect(gate.open(0, dropped: 3, now: start + DeviceFleet.sendPause))
        // The next drop is put down to worker 1, which had the last batch.
        #expect(!gate.open(1, dropped: 4, now: start + DeviceFleet.sendPause * 2))
        #expect(gate.open(0, dropped: 4, now: start + DeviceFleet.sendPause * 2))
        #expect(gate.skipped == 3)
    }
}
