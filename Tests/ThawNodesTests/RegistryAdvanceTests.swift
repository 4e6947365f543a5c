import Testing
import ThawNN
import ThawNodes

/// Moving the freeze point deeper: stored activations at k are advanced to k' by the cloud and inserted
/// next to their source, once each, resumably.
@Suite struct RegistryAdvanceTests {
    typealias F = RegistryFixtures
    static let deeper = FeatureStamps(
        modelVersion: ModelVersion(1), freezePoint: FreezePoint(4), hyperParameterHash: "hyper-k4")

    /// The "layers [k, k')" of the test: halves every value and drops to a flat shape.
    static func advance(_ feature: StoredFeature) -> AdvancedFeature {
        AdvancedFeature(
            sourceID: feature.id,
            activations: StoredActivations(
                shape: [feature.activations.scalars.count], scalars: feature.activations.scalars.map { $0 / 2 }))
    }

    @Test(arguments: TestBackend.available) func advancingIsIdempotentAndResumable(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            let user = UserID("writer-1")
            _ = try store.storeBatch(F.batch(sequence: 1, samples: 3))
            _ = try store.storeBatch(F.batch(device: "phone-2", sequence: 1, samples: 2, firstSample: 50))
            _ = try store.storeBatch(F.batch(user: "writer-2", device: "phone-3", sequence: 1, samples: 2))

            // A job advances one page of two rows, then "crashes".
            let firstPage = try store.featuresToAdvance(from: F.stamps, to: FreezePoint(4), limit: 2)
            #expect(firstPage.count == 2)
            #expect(try store.advanceFeatures(firstPage.map(Self.advance), to: Self.deeper) == 2)
            // Redoing the same page inserts nothing.
            #expect(try store.advanceFeatures(firstPage.map(Self.advance), to: Self.deeper) == 0)

            // The restarted job asks again and gets only what is left.
            let rest = try store.featuresToAdvance(from: F.stamps, to: FreezePoint(4), limit: 100)
            #expect(rest.count == 5)
            #expect(Set(rest.map(\.id)).isDisjoint(with: firstPage.map(\.id)))
            #expect(try store.advanceFeatures(rest.map(Self.advance), to: Self.deeper) == 5)
            #expect(try store.featuresToAdvance(from: F.stamps, to: FreezePoint(4), limit: 100).isEmpty)

            // The advanced rows carry the new stamps and the source's identity and label.
            let advanced = try store.features(user, stamps: Self.deeper, limit: 100)
            #expect(advanced.count == 5)
            let source = try store.features(user, stamps: F.stamps, limit: 100)
            #expect(advanced.map(\.sampleID).sorted() == source.map(\.sampleID).sorted())
            let first = try #require(advanced.first { $0.sampleID == 1 && $0.device == DeviceID("phone-1") })
            #expect(first.label == 1 && first.deviceSequence == 1)
            #expect(first.activations == StoredActivations(shape: [4], scalars: [0.5, 0.5, 1, 1.5]))
            #expect(store.counters.featuresAdvanced == 7)
        }
    }

    @Test(arguments: TestBackend.available) func advancingCanBeRestrictedToOneUser(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            _ = try store.storeBatch(F.batch(sequence: 1, samples: 3))
            _ = try store.storeBatch(F.batch(user: "writer-2", device: "phone-3", sequence: 1, samples: 2))
            let rows = try store.featuresToAdvance(
                from: F.stamps, to: FreezePoint(4), user: UserID("writer-2"), limit: 10)
            #expect(rows.map(\.user) == [UserID("writer-2"), UserID("writer-2")])
        }
    }

    @Test(arguments: TestBackend.available) func advancingRefusesShallowerTargetsOtherVersionsAndBadValues(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            _ = try store.storeBatch(F.batch(sequence: 1, samples: 1))
            let row = try #require(try store.features(UserID("writer-1"), stamps: F.stamps, limit: 1).first)
            let shallower = FeatureStamps(
                modelVersion: ModelVersion(1), freezePoint: FreezePoint(1), hyperParameterHash: "x")
            let otherModel = FeatureStamps(
                modelVersion: ModelVersion(2), freezePoint: FreezePoint(4), hyperParameterHash: "x")
            for target in [shallower, otherModel] {
                let error = #expect(throws: RegistryError.self) {
                    try store.advanceFeatures([Self.advance(row)], to: target)
                }
                #expect(error?.code == .valueOutOfRange)
            }
            let nan = AdvancedFeature(sourceID: row.id, activations: StoredActivations(shape: [1], scalars: [.nan]))
            let error = #expect(throws: RegistryError.self) { try store.advanceFeatures([nan], to: Self.deeper) }
            #expect(error?.code == .nonFiniteValue)
            let missing = AdvancedFeature(sourceID: 999, activations: StoredActivations(shape: [1], scalars: [1]))
            #expect(throws: RegistryError.self) { try store.advanceFeatures([missing], to: Self.deeper) }
            #expect(try store.featureCount(UserID("writer-1"), stamps: Self.deeper) == 0)
        }
    }
}
