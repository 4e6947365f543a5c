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

/// A registry backend the store tests run against: the SQLite file always, and PostgreSQL when
/// `THAW_TEST_POSTGRES_URL` names a server (`scripts/test` starts a throwaway cluster and sets it).
/// Each PostgreSQL test gets a database of its own, dropped afterwards.
enum TestBackend: String, Sendable, CustomStringConvertible {
    case sqlite, postgres

    var description: String { rawValue }

    /// The server URL from the environment, or nil (then the PostgreSQL cases are not run:
    /// `RegistryBackendCoverageTests` shows them as skipped with the reason).
    static let postgresServer: String? = {
        let value = ProcessInfo.processInfo.environment["THAW_TEST_POSTGRES_URL"] ?? ""
        return value.isEmpty ? nil : value
    }()

    static let available: [TestBackend] = postgresServer == nil ? [.sqlite] : [.sqlite, .postgres]
}

/// Opens a fresh store of `backend`, runs `body`, closes it and removes its data.
func withTemporaryStore<T>(_ backend: TestBackend, _ body: (any RegistryBackend) throws -> T) throws -> T {
    switch backend {
    case .sqlite:
        return try withTemporaryStore { store in try body(store) }
    case .postgres:
        return try withTemporaryPostgres { url in
            let store = try PostgresRegistryStore(url: url)
            defer { try? store.close() }
            return try body(store)
        }
    }
}

/// A database of its own on the test server for `body`, dropped afterwards.
func withTemporaryPostgres<T>(_ body: (_ url: String) throws -> T) throws -> T {
    guard let server = TestBackend.postgresServer else {
        throw RegistryError(.valueOutOfRange, "THAW_TEST_POSTGRES_URL is not set")
    }
    let name = "thaw_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
    let url = try PostgresScratchDatabase.create(serverURL: server, name: name)
    defer { try? PostgresScratchDatabase.drop(serverURL: server, name: name) }
    return try body(url)
}
