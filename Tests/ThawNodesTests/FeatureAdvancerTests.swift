import Testing
import ThawNN
import ThawNodes

/// The registry advances stored activations itself after a deeper move, and answers device syncs and
/// recorded rejections after a shallower one.
@Suite struct FeatureAdvancerTests {
    typealias F = RegistryFixtures

    static func state(_ freeze: Int, epoch: UInt64) -> DeploymentState {
        DeploymentState(
            modelVersion: ModelVersion(1), modelHash: "model-1", freezePoint: FreezePoint(freeze),
            hyperParameterHash: F.hyper, epoch: epoch)
    }

    /// "Layers [from, to)": adds `to - from` to every value and flattens.
    static func fakeLayers(_ rows: [StoredActivations], _ from: Int, _ to: Int) -> [StoredActivations]? {
        rows.map { StoredActivations(shape: [$0.scalars.count], scalars: $0.scalars.map { $0 + Float(to - from) }) }
    }

    static func drain(_ advancer: inout FeatureAdvancer, _ store: any RegistryBackend) throws -> [FeatureAdvancer.Step] {
        var steps: [FeatureAdvancer.Step] = []
        for _ in 0..<100 {
            let step = try advancer.step(store: store, advance: fakeLayers)
            steps.append(step)
            if step == .idle || isFinished(step) { break }
        }
        return steps
    }

    static func isFinished(_ step: FeatureAdvancer.Step) -> Bool {
        if case .finished = step { return true }
        return false
    }

    @Test(arguments: TestBackend.available) func aDeeperMoveAdvancesEveryStoredSampleOnceAndAsksForRetraining(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            _ = try store.storeBatch(F.batch(sequence: 1, samples: 3))
            _ = try store.storeBatch(F.batch(user: "writer-2", device: "phone-2", sequence: 1, samples: 2))
            var advancer = FeatureAdvancer(pageSize: 2)
            advancer.follow(Self.state(2, epoch: 1))
            #expect(
                try Self.drain(&advancer, store).last
                    == .finished(
                        state: Self.state(2, epoch: 1),
                        retrain: [
                            UserID("writer-1"), UserID("writer-2"),
                        ]))  // rows at k=2 but no heads yet

            advancer.follow(Self.state(4, epoch: 2))
            let steps = try Self.drain(&advancer, store)
            #expect(
                steps.prefix(3) == [
                    .advanced(rows: 2, skipped: 0), .advanced(rows: 2, skipped: 0), .advanced(rows: 1, skipped: 0),
                ])
            #expect(
                steps.last
                    == .finished(state: Self.state(4, epoch: 2), retrain: [UserID("writer-1"), UserID("writer-2")]))
            let deeper = FeatureStamps(Self.state(4, epoch: 2))
            let rows = try store.features(UserID("writer-1"), stamps: deeper, limit: 10)
            #expect(rows.map(\.sampleID) == [0, 1, 2])
            #expect(rows.first?.activations == StoredActivations(shape: [4], scalars: [2, 3, 4, 5]))
            // Finished jobs do nothing more; a replayed heartbeat does not restart them.
            advancer.follow(Self.state(4, epoch: 2))
            #expect(try advancer.step(store: store, advance: Self.fakeLayers) == .idle)
            #expect(advancer.rowsAdvanced == 5)
        }
    }

    @Test(arguments: TestBackend.available) func aRestartedJobResumesWhereTheLastOneStopped(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            _ = try store.storeBatch(F.batch(sequence: 1, samples: 5))
            var first = FeatureAdvancer(pageSize: 2)
            first.follow(Self.state(3, epoch: 2))
            #expect(try first.step(store: store, advance: Self.fakeLayers) == .advanced(rows: 2, skipped: 0))
            // The registry dies; a new process follows the same state from its first heartbeat.
            var second = FeatureAdvancer(pageSize: 10)
            second.follow(Self.state(3, epoch: 2))
            #expect(try second.step(store: store, advance: Self.fakeLayers) == .advanced(rows: 3, skipped: 0))
            let rows = try store.features(UserID("writer-1"), stamps: FeatureStamps(Self.state(3, epoch: 2)), limit: 10)
            #expect(rows.map(\.sampleID) == [0, 1, 2, 3, 4])
        }
    }

    @Test(arguments: TestBackend.available) func eachSampleIsAdvancedFromItsDeepestRowAndNeverTwice(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            // Sample 0 uploaded at k=2, then (after a move) again at k=3 in another batch.
            _ = try store.storeBatch(F.batch(sequence: 1, samples: 2))
            let k3 = FeatureStamps(Self.state(3, epoch: 2))
            _ = try store.storeBatch(F.batch(sequence: 2, samples: 1, stamps: k3))
            var advancer = FeatureAdvancer()
            advancer.follow(Self.state(5, epoch: 3))
            _ = try Self.drain(&advancer, store)
            let rows = try store.features(UserID("writer-1"), stamps: FeatureStamps(Self.state(5, epoch: 3)), limit: 10)
            #expect(rows.map(\.sampleID).sorted() == [0, 1])
            // Sample 0 came from k=3 (2 layers: +2), sample 1 from k=2 (3 layers: +3).
            #expect(rows.first { $0.sampleID == 0 }?.activations.scalars.first == 2)
            #expect(rows.first { $0.sampleID == 1 }?.activations.scalars.first == 4)
        }
    }

    @Test(arguments: TestBackend.available) func rowsTheModelRefusesAreSkippedNotRetriedForever(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            _ = try store.storeBatch(F.batch(sequence: 1, samples: 3))
            var advancer = FeatureAdvancer()
            advancer.follow(Self.state(3, epoch: 2))
            #expect(try advancer.step(store: store, advance: { _, _, _ in nil }) == .advanced(rows: 0, skipped: 3))
            guard case .finished = try advancer.step(store: store, advance: { _, _, _ in nil }) else {
                Issue.record("expected the job to finish")
                return
            }
            #expect(advancer.rowsSkipped == 3)
        }
    }

    @Test(arguments: TestBackend.available) func aShallowerMoveHasNoCloudWorkAndTheSyncNamesOnlyMissingSamples(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            _ = try store.storeBatch(F.batch(sequence: 1, samples: 3))  // samples 0, 1, 2 at k=2
            var advancer = FeatureAdvancer()
            advancer.follow(Self.state(1, epoch: 2))
            guard case .finished = try advancer.step(store: store, advance: Self.fakeLayers) else {
                Issue.record("a shallower target has nothing to advance")
                return
            }
            #expect(try store.missingSamples(UserID("writer-1"), stamps: F.stamps, among: [2, 0, 7, 2]) == [7])
            #expect(
                try store.missingSamples(
                    UserID("writer-1"), stamps: FeatureStamps(Self.state(1, epoch: 2)), among: [0, 1])
                    == [0, 1])
            #expect(try store.missingSamples(UserID("writer-2"), stamps: F.stamps, among: [0]) == [0])
        }
    }

    @Test(arguments: TestBackend.available) func rejectionsAreKeptUntilTheDeviceCollectsThemOnce(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            let current = Self.state(1, epoch: 3)
            for seq: UInt64 in [4, 2] {
                try store.recordRejection(
                    RecordedRejection(
                        device: DeviceID("phone-1"), sequence: seq, reason: .staleFreezePoint, current: current,
                        detail: "k=2 after a move to k=1"))
            }
            try store.recordRejection(
                RecordedRejection(
                    device: DeviceID("phone-2"), sequence: 1, reason: .invalid, current: current, detail: ""))
            let taken = try store.takeRejections(device: DeviceID("phone-1"))
            #expect(taken.map(\.sequence) == [2, 4] && taken.first?.current == current)
            #expect(taken.first?.reason == .staleFreezePoint)
            #expect(try store.takeRejections(device: DeviceID("phone-1")).isEmpty)
            #expect(try store.takeRejections(device: DeviceID("phone-2")).map(\.reason) == [.invalid])
        }
    }
}
