import Foundation
import ThawNN
import ThawNodes

/// Builders shared by the registry and worker tests: small batches, stamps and a throwaway on-disk
/// store under a unique temporary directory.
enum RegistryFixtures {
    static let hyper = "hyper-a"
    static let stamps = FeatureStamps(
        modelVersion: ModelVersion(1), freezePoint: FreezePoint(2), hyperParameterHash: hyper)
    static let deployment = DeploymentState(
        modelVersion: ModelVersion(1), modelHash: "model-1", freezePoint: FreezePoint(2), hyperParameterHash: hyper,
        epoch: 1)

    static func batch(
        user: String = "writer-1", device: String = "phone-1", sequence: UInt64 = 1, samples: Int = 3,
        stamps: FeatureStamps = stamps, firstSample: UInt64 = 0
    ) -> FeatureBatch {
        FeatureBatch(
            user: UserID(user), device: DeviceID(device), sequence: sequence, stamps: stamps,
            samples: (0..<samples).map { index in
                let id = firstSample + UInt64(index)
                return FeatureSample(
                    sampleID: id, label: index % 10,
                    activations: StoredActivations(shape: [2, 2], scalars: [Float(id), 1, 2, 3]))
            })
    }

    static func commit(
        user: String = "writer-1", parent: UInt64, stamps: FeatureStamps = stamps, parameters: [Float] = [1, 2, 3],
        samples: Int = 3
    ) -> HeadCommit {
        HeadCommit(
            user: UserID(user), parentVersion: parent, stamps: stamps, parameters: parameters,
            hash: "test-\(parameters)", loss: 0.5, samples: samples)
    }
}

/// A registry database in a fresh temporary directory, removed when the test's body returns.
func withTemporaryRegistry<T>(_ body: (_ path: String) throws -> T) throws -> T {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("thaw-registry-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    return try body(directory.appendingPathComponent("registry.sqlite").path)
}

/// Opens a store at a fresh temporary path, runs `body`, and closes it.
func withTemporaryStore<T>(_ body: (RegistryStore) throws -> T) throws -> T {
    try withTemporaryRegistry { path in
        let store = try RegistryStore(path: path)
        defer { try? store.close() }
        return try body(store)
    }
}
