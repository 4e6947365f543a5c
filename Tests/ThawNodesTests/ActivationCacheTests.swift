import Testing
import ThawNN

@testable import ThawNodes

@Suite struct ActivationCacheTests {
    @Test func olderModelVersionsAreEvicted() {
        var cache = ActivationCache(capacityBytes: 10_000)
        _ = cache.insert(Fixture.entry(1, stamp: Fixture.stamp(version: 1)))
        _ = cache.insert(Fixture.entry(2, stamp: Fixture.stamp(version: 2)))
        let evicted = cache.evictOlderModels(than: ModelVersion(2))
        #expect(evicted.map(\.sampleId) == [1])
        #expect(cache[2] != nil && cache.count == 1)
        #expect(cache.byteCount == 40)
    }

    @Test func differentHyperParameterHashesAreEvicted() {
        var cache = ActivationCache(capacityBytes: 10_000)
        _ = cache.insert(Fixture.entry(1, stamp: Fixture.stamp(hyper: "old")))
        _ = cache.insert(Fixture.entry(2, stamp: Fixture.stamp(hyper: "new")))
        #expect(cache.evictHyperParameterMismatch(current: "new").map(\.sampleId) == [1])
        #expect(cache.allEntries.map(\.sampleId) == [2])
    }

    @Test func terminationEvictsOnlyUnannotatedEntries() {
        var cache = ActivationCache(capacityBytes: 10_000)
        _ = cache.insert(Fixture.entry(1, annotated: false))
        _ = cache.insert(Fixture.entry(2, annotated: true))
        #expect(cache.evictUnannotated().map(\.sampleId) == [1])
        #expect(cache.allEntries.map(\.sampleId) == [2])
    }

    @Test func byteAccountingCountsCheckpointsAndReplacements() {
        var cache = ActivationCache(capacityBytes: 10_000)
        _ = cache.insert(Fixture.entry(1, bytes: 40, checkpoints: [1: Fixture.activation(5)]))
        #expect(cache.byteCount == 60)
        _ = cache.insert(Fixture.entry(1, bytes: 8))
        #expect(cache.byteCount == 8)
        cache.remove(1)
        #expect(cache.byteCount == 0)
    }

    @Test func capacityEvictionFollowsTheDocumentedOrder() {
        // 4 entries of 40 bytes, capacity 200: checkpoints go first, then unannotated, then durable.
        var cache = ActivationCache(capacityBytes: 200)
        _ = cache.insert(Fixture.entry(1, annotated: true, createdAt: 1, upload: .durable(seq: 1)))
        _ = cache.insert(Fixture.entry(2, annotated: false, createdAt: 2))
        _ = cache.insert(Fixture.entry(3, annotated: true, createdAt: 3, checkpoints: [1: Fixture.activation(10)]))
        _ = cache.insert(Fixture.entry(4, annotated: true, createdAt: 4))
        #expect(cache.byteCount == 200)
        // +40: dropping entry 3's checkpoint (40 bytes) suffices.
        #expect(cache.insert(Fixture.entry(5, annotated: true, createdAt: 5)) == .stored(evicted: [3]))
        #expect(cache[3]?.checkpoints.isEmpty == true && cache[2] != nil)
        // +40: the unannotated entry goes next.
        #expect(cache.insert(Fixture.entry(6, annotated: true, createdAt: 6)) == .stored(evicted: [2]))
        // +40: then the durable annotated one.
        #expect(cache.insert(Fixture.entry(7, annotated: true, createdAt: 7)) == .stored(evicted: [1]))
        // +40: nothing evictable is left; pending annotated entries are kept, over capacity.
        #expect(cache.insert(Fixture.entry(8, annotated: true, createdAt: 8)) == .stored(evicted: []))
        #expect(cache.isOverCapacity && cache.count == 6)
        // An unannotated entry that cannot fit is refused rather than evicting pending work.
        #expect(cache.insert(Fixture.entry(9, annotated: false, createdAt: 9)) == .rejected)
        #expect(cache[9] == nil)
    }

    @Test func rebuildPlanPicksTheNearestCheckpointAtOrBelowTheNewPoint() {
        var cache = ActivationCache(capacityBytes: 10_000)
        // Entry 1 at k=5 with checkpoints at 1 and 3: moving to k=4 starts from layer 3.
        _ = cache.insert(
            Fixture.entry(
                1, stamp: Fixture.stamp(freeze: 5),
                checkpoints: [1: Fixture.activation(2, value: 1), 3: Fixture.activation(2, value: 3)]))
        // Entry 2 at k=2, no checkpoints: moving deeper to k=4 starts from its own activation at 2.
        _ = cache.insert(Fixture.entry(2, stamp: Fixture.stamp(freeze: 2)))
        // Entry 3 at k=5 without checkpoints: only the raw input is usable.
        _ = cache.insert(Fixture.entry(3, stamp: Fixture.stamp(freeze: 5)))
        // Entry 4 from another model: its checkpoints are useless.
        _ = cache.insert(
            Fixture.entry(4, stamp: Fixture.stamp(version: 0, freeze: 5), checkpoints: [3: Fixture.activation(2)]))
        // Entry 5 is already current and needs nothing.
        _ = cache.insert(Fixture.entry(5, stamp: Fixture.stamp(freeze: 4)))

        let plan = cache.planRebuild(to: FreezePoint(4), modelVersion: ModelVersion(1))
        #expect(plan.steps.map(\.sampleId) == [1, 2, 3, 4])
        #expect(plan.steps[0].source == .activation(layer: 3, Fixture.activation(2, value: 3)))
        #expect(plan.steps[1].source == .activation(layer: 2, Fixture.activation(10)))
        #expect(plan.steps[2].source == .rawInput)
        #expect(plan.steps[3].source == .rawInput)
        #expect(plan.layerRuns == 1 + 2 + 4 + 4)
    }

    @Test func checkpointExactlyAtTheNewPointNeedsNoLayers() {
        var cache = ActivationCache(capacityBytes: 10_000)
        _ = cache.insert(Fixture.entry(1, stamp: Fixture.stamp(freeze: 5), checkpoints: [2: Fixture.activation(3)]))
        let plan = cache.planRebuild(to: FreezePoint(2), modelVersion: ModelVersion(1))
        #expect(plan.steps.first?.startLayer == 2)
        #expect(plan.layerRuns == 0)
    }
}
