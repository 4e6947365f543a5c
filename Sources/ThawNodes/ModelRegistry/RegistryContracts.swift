import ThawModel
import ThawNN

/// The ``ModelContract`` of each base model the registry holds, built once per version from its stored
/// checkpoint, so feature batches and head commits are checked against the model they claim to be for
/// before they are stored (a stored lie would crash every worker that trains on it).
struct RegistryContracts {
    private var known: [ModelVersion: ModelContract] = [:]

    /// The contract of `version`.
    /// - Throws: ``InputViolation`` `.unknownModel` when the registry has no such base model (or its stored
    ///   checkpoint does not decode); the store's own errors otherwise.
    mutating func contract(_ version: ModelVersion, store: RegistryStore) throws -> ModelContract {
        if let contract = known[version] { return contract }
        guard let record = try store.baseModel(version) else {
            throw InputViolation(.unknownModel, "the registry has no base model \(version)")
        }
        let contents: ModelCheckpoint.Contents
        do {
            contents = try ModelCheckpoint.decode([UInt8](record.blob))
        } catch {
            throw InputViolation(.unknownModel, "base model \(version) is stored but does not decode: \(error)")
        }
        let contract = ModelContract(contents.architecture)
        known[version] = contract
        return contract
    }
}
