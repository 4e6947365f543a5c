import Testing
import ThawNN

@testable import ThawNodes

@Suite struct PredictionCacheTests {
    @Test func hitsMissesAndLeastRecentlyUsedEviction() {
        var cache = PredictionCache(capacity: 2, modelVersion: ModelVersion(1), freezePoint: FreezePoint(3))
        #expect(cache.lookup(.sample(1)) == nil)
        cache.insert(Fixture.activation(2, value: 1), for: .sample(1))
        cache.insert(Fixture.activation(2, value: 2), for: .content("abc"))
        #expect(cache.lookup(.sample(1)) == Fixture.activation(2, value: 1))  // 1 is now most recent
        cache.insert(Fixture.activation(2, value: 3), for: .sample(3))  // evicts "abc"
        #expect(cache.lookup(.content("abc")) == nil)
        #expect(cache.lookup(.sample(3)) != nil)
        #expect(cache.count == 2)
        #expect(cache.hits == 2 && cache.misses == 2)
    }

    @Test func modelOrFreezeChangesInvalidateWholesale() {
        var cache = PredictionCache(capacity: 4, modelVersion: ModelVersion(1), freezePoint: FreezePoint(3))
        cache.insert(Fixture.activation(2), for: .sample(1))
        let unchanged = cache.invalidate(ifNot: FreezePoint(3), modelVersion: ModelVersion(1))
        #expect(!unchanged && cache.count == 1)
        let freezeMoved = cache.invalidate(ifNot: FreezePoint(2), modelVersion: ModelVersion(1))
        #expect(freezeMoved && cache.count == 0)
        cache.insert(Fixture.activation(2), for: .sample(1))
        let modelChanged = cache.invalidate(ifNot: FreezePoint(2), modelVersion: ModelVersion(2))
        #expect(modelChanged)
        #expect(cache.lookup(.sample(1)) == nil)
    }
}
