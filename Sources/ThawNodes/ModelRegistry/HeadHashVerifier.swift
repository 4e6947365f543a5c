import Synchronization
import ThawModel
import ThawNN

/// Checks that a committed head's claimed hash is the SHA-256 content hash (`ContentHash.head`) of its
/// parameters under the base model it was trained for, before the registry stores it.
///
/// Devices decide whether to swap a head by its hash and verify the parameters they receive against it,
/// so the registry must never vouch for a hash it did not recompute. The check also refuses a head whose
/// parameter count does not fit the base model's layers `[k, L)`. Architectures are decoded from the
/// stored checkpoints once per model version.
final class HeadHashVerifier: Sendable {
    private let architectures = Mutex<[ModelVersion: ModelArchitecture]>([:])

    /// - Throws: ``RegistryError`` `.unknownModelVersion`, `.invalidShape` or `.hashMismatch`.
    func verify(_ commit: HeadCommit, store: RegistryStore) throws {
        let version = commit.stamps.modelVersion
        let architecture = try architecture(of: version, store: store)
        let freezePoint = commit.stamps.freezePoint
        guard (0..<architecture.layerCount).contains(freezePoint.index) else {
            throw RegistryError(
                .invalidShape, "freeze point \(freezePoint.index) outside 0..<\(architecture.layerCount) of \(version)")
        }
        let expectedCount = architecture.parameterCount(layers: freezePoint.index..<architecture.layerCount)
        guard commit.parameters.count == expectedCount else {
            throw RegistryError(
                .invalidShape,
                "head for \(commit.user) has \(commit.parameters.count) parameters; layers [\(freezePoint.index), "
                    + "\(architecture.layerCount)) of \(version) have \(expectedCount)")
        }
        let actual = ContentHash.head(parameters: commit.parameters, freezePoint: freezePoint, architecture: architecture)
        guard actual.hex == commit.hash.lowercased() else {
            throw RegistryError(
                .hashMismatch, "head for \(commit.user) claims hash \(commit.hash.prefix(16)), content is \(actual.hex.prefix(16))")
        }
    }

    private func architecture(of version: ModelVersion, store: RegistryStore) throws -> ModelArchitecture {
        if let known = architectures.withLock({ $0[version] }) { return known }
        guard let record = try store.baseModel(version) else {
            throw RegistryError(.unknownModelVersion, "no base model \(version) for a head commit")
        }
        let architecture: ModelArchitecture
        do {
            architecture = try ModelCheckpoint.decode([UInt8](record.blob)).architecture
        } catch {
            throw RegistryError(.corruptRow, "stored base model \(version) does not decode: \(error)")
        }
        architectures.withLock { $0[version] = architecture }
        return architecture
    }
}
