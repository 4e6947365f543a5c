import Testing
import ThawNN
import ThawNodes

@Suite struct TrainerWorkerStateMachineTests {
    typealias F = RegistryFixtures
    static let user = UserID("writer-1")

    static func deployed(_ configuration: TrainerWorkerConfiguration = TrainerWorkerConfiguration())
        -> TrainerWorkerStateMachine
    {
        var machine = TrainerWorkerStateMachine(configuration: configuration)
        #expect(machine.handle(.deploymentObserved(F.deployment)).isEmpty)
        return machine
    }

    @Test(arguments: [
        (
            FeatureStamps(modelVersion: ModelVersion(0), freezePoint: FreezePoint(2), hyperParameterHash: F.hyper),
            RejectReason.staleModel
        ),
        (
            FeatureStamps(modelVersion: ModelVersion(2), freezePoint: FreezePoint(2), hyperParameterHash: F.hyper),
            .workerBehind
        ),
        (
            FeatureStamps(modelVersion: ModelVersion(1), freezePoint: FreezePoint(3), hyperParameterHash: F.hyper),
            .staleFreezePoint
        ),
        (
            FeatureStamps(modelVersion: ModelVersion(1), freezePoint: FreezePoint(2), hyperParameterHash: "old"),
            .staleHyper
        ),
    ])
    func staleBatchIsRejectedWithTheRightReason(stamps: FeatureStamps, reason: RejectReason) {
        var machine = Self.deployed()
        let batch = F.batch(stamps: stamps)
        #expect(machine.handle(.batchReceived(batch)) == [.reject(batch, reason: reason, current: F.deployment)])
        #expect(machine.metrics.rejected == [reason: 1])
        #expect(machine.pendingStoreCount == 0)
    }

    @Test func invalidOrEarlyBatchesAreRejected() {
        var fresh = TrainerWorkerStateMachine()
        let batch = F.batch()
        #expect(fresh.handle(.batchReceived(batch)) == [.reject(batch, reason: .noDeployment, current: nil)])
        var machine = Self.deployed()
        let empty = F.batch(samples: 0)
        #expect(machine.handle(.batchReceived(empty)) == [.reject(empty, reason: .invalid, current: F.deployment)])
        #expect(RejectReason.noDeployment.isRetriable && !RejectReason.invalid.isRetriable)
    }

    @Test func olderOrReplayedDeploymentsAreIgnored() {
        var machine = Self.deployed()
        var older = F.deployment
        older.epoch = 0
        older.freezePoint = FreezePoint(1)
        _ = machine.handle(.deploymentObserved(older))
        #expect(machine.deployment == F.deployment)
    }

    @Test func batchIsStoredBeforeItIsAcknowledgedAndTrained() {
        var machine = Self.deployed()
        let batch = F.batch()
        #expect(machine.handle(.batchReceived(batch)) == [.storeBatch(batch)])
        // A resend before the registry answered is absorbed.
        #expect(machine.handle(.batchReceived(batch)).isEmpty)
        #expect(
            machine.handle(.stored(device: batch.device, sequence: 1, duplicate: false)) == [
                .ackDevice(user: Self.user, device: batch.device, sequence: 1, duplicate: false), .fetchHead(Self.user),
            ])
        #expect(machine.metrics.batchesStored == 1 && machine.metrics.samplesStored == 3)
    }

    @Test func failedStoreRejectsSoTheDeviceResends() {
        var machine = Self.deployed()
        let batch = F.batch()
        _ = machine.handle(.batchReceived(batch))
        #expect(
            machine.handle(.requestFailed(.store(device: batch.device, sequence: 1)))
                == [.reject(batch, reason: .registryFailed, current: F.deployment)])
        #expect(machine.handle(.stored(device: batch.device, sequence: 1, duplicate: false)).isEmpty)
        #expect(machine.metrics.ignoredEvents == 1)
    }

    @Test func batchesArrivingDuringTrainingAreCoalescedIntoOneRun() throws {
        try withTemporaryStore { store throws in
            var worker = TrainerWorkerHarness(store: store)
            worker.send(.deploymentObserved(F.deployment))
            worker.send(.batchReceived(F.batch(sequence: 1)))
            try worker.step()  // store
            try worker.step()  // ack
            try worker.step()  // fetchHead: the run has begun
            for sequence in UInt64(2)...4 {
                worker.send(.batchReceived(F.batch(sequence: sequence, firstSample: sequence * 10)))
            }
            try worker.drain()
            let history = try store.headHistory(Self.user)
            // The first run saw one batch (3 samples) or more; one further run covered the rest.
            #expect(history.count == 2)
            #expect(history.last?.samples == 12)
            #expect(worker.machine.metrics.coalesced == 1)
            #expect(worker.machine.metrics.trainingsStarted == 2)
        }
    }

    @Test func conflictLeadsToRetrainOnTheLatestHead() throws {
        try withTemporaryStore { store throws in
            var worker = TrainerWorkerHarness(store: store)
            worker.send(.deploymentObserved(F.deployment))
            worker.send(.batchReceived(F.batch(sequence: 1)))
            while true {
                guard case .commit = worker.queue.first else {
                    try worker.step()
                    continue
                }
                break
            }
            // Another worker commits first, having seen a second batch.
            _ = try store.storeBatch(F.batch(device: "phone-2", sequence: 1, firstSample: 100))
            _ = try store.commitHead(F.commit(parent: 0, parameters: [1, 3], samples: 3))
            try worker.step()  // the commit loses
            #expect(worker.log.contains(.retrainOnLatest(Self.user, latestVersion: 1, attempt: 1)))
            try worker.drain()
            let history = try store.headHistory(Self.user)
            #expect(history.map(\.version) == [1, 2])
            #expect(history.map(\.parentVersion) == [0, 1])
            // Built on the winner's parameters, over both batches.
            #expect(history.last?.parameters == [2, 6])
            #expect(worker.machine.metrics.conflicts == 1 && worker.machine.metrics.commits == 1)
        }
    }

    @Test func conflictRetriesAreBounded() {
        var machine = Self.deployed(TrainerWorkerConfiguration(maxConflictRetries: 1))
        let batch = F.batch()
        _ = machine.handle(.batchReceived(batch))
        _ = machine.handle(.stored(device: batch.device, sequence: 1, duplicate: false))
        func runToCommit() {
            _ = machine.handle(.headFetched(user: Self.user, head: nil))
            let features = [
                StoredFeature(
                    id: 1, user: Self.user, device: batch.device, deviceSequence: 1, sampleID: 0, label: 0,
                    stamps: F.stamps, activations: StoredActivations(shape: [1], scalars: [1]))
            ]
            _ = machine.handle(.featuresFetched(user: Self.user, features: features))
            _ = machine.handle(.trained(user: Self.user, parameters: [1], hash: "test-hash", loss: 0.1))
        }
        runToCommit()
        #expect(
            machine.handle(.commitConflict(user: Self.user, currentVersion: 4)) == [
                .retrainOnLatest(Self.user, latestVersion: 4, attempt: 1)
            ])
        runToCommit()
        #expect(
            machine.handle(.commitConflict(user: Self.user, currentVersion: 5)) == [
                .gaveUp(Self.user, after: .commit(Self.user))
            ])
        #expect(!machine.isBusy(Self.user))
        #expect(machine.metrics.gaveUp == 1)
    }

    @Test func deploymentChangeDuringTrainingDiscardsTheRun() {
        var machine = Self.deployed()
        let batch = F.batch()
        _ = machine.handle(.batchReceived(batch))
        _ = machine.handle(.stored(device: batch.device, sequence: 1, duplicate: false))
        _ = machine.handle(.headFetched(user: Self.user, head: nil))
        let feature = StoredFeature(
            id: 1, user: Self.user, device: batch.device, deviceSequence: 1, sampleID: 0, label: 0, stamps: F.stamps,
            activations: StoredActivations(shape: [1], scalars: [1]))
        let started = machine.handle(.featuresFetched(user: Self.user, features: [feature]))
        guard case .train(let job)? = started.first else {
            Issue.record("expected a training job, got \(started)")
            return
        }
        #expect(job.parentVersion == 0 && job.initialParameters == nil && job.features == [feature])
        var moved = F.deployment
        moved.freezePoint = FreezePoint(3)
        moved.epoch = 2
        _ = machine.handle(.deploymentObserved(moved))
        #expect(machine.handle(.trained(user: Self.user, parameters: [1], hash: "test-hash", loss: 0.1)) == [.fetchHead(Self.user)])
        #expect(machine.metrics.trainingsDiscarded == 1)
        // The restarted run asks for features under the new stamps.
        #expect(
            machine.handle(.headFetched(user: Self.user, head: nil))
                == [.fetchFeatures(Self.user, stamps: FeatureStamps(moved), limit: 100_000)])
    }

    @Test func nonFiniteTrainingOutputCountsAsAFailure() {
        var machine = Self.deployed(TrainerWorkerConfiguration(maxRequestRetries: 0))
        let batch = F.batch()
        _ = machine.handle(.batchReceived(batch))
        _ = machine.handle(.stored(device: batch.device, sequence: 1, duplicate: false))
        _ = machine.handle(.headFetched(user: Self.user, head: nil))
        let feature = StoredFeature(
            id: 1, user: Self.user, device: batch.device, deviceSequence: 1, sampleID: 0, label: 0, stamps: F.stamps,
            activations: StoredActivations(shape: [1], scalars: [1]))
        _ = machine.handle(.featuresFetched(user: Self.user, features: [feature]))
        #expect(
            machine.handle(.trained(user: Self.user, parameters: [.nan], hash: "test-hash", loss: 0.1)) == [
                .gaveUp(Self.user, after: .train(Self.user))
            ])
    }

    @Test func duplicateIsAcknowledgedAndSkipsTrainingWhenTheHeadCoversEverything() throws {
        try withTemporaryStore { store throws in
            var first = TrainerWorkerHarness(store: store)
            first.send(.deploymentObserved(F.deployment))
            first.send(.batchReceived(F.batch()))
            try first.drain()
            // The ack was lost; the device resends to another worker.
            var second = TrainerWorkerHarness(store: store)
            second.send(.deploymentObserved(F.deployment))
            second.send(.batchReceived(F.batch()))
            try second.drain()
            #expect(
                second.log.contains(
                    .ackDevice(user: Self.user, device: DeviceID("phone-1"), sequence: 1, duplicate: true)))
            #expect(second.machine.metrics.trainingsSkipped == 1)
            #expect(try store.headHistory(Self.user).count == 1)
        }
    }
}
