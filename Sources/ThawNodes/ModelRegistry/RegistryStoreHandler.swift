import Foundation
import ThawModel
import ThawNN

/// Typed, blocking access to the store: maps each ``RegistryRequest`` to one store operation and a
/// typed ``RegistryReply``. The registry's protocol decisions live in ``ModelRegistryStateMachine``;
/// this is a convenience for tools, simulations and tests that talk to a ``RegistryStore`` directly.
///
/// Thread rule: as for the store, every call blocks on disk I/O; never call it on a socket loop.
public struct RegistryStoreHandler: Sendable {
    public let store: any RegistryBackend

    public init(store: any RegistryBackend) {
        self.store = store
    }

    /// Handles one request.
    ///
    /// - Returns: the reply; invalid values from the peer become `.rejected` (data for the peer, not a
    ///   failure of this node).
    /// - Throws: the store's database errors (disk full, file gone), which do concern this node.
    public func handle(_ request: RegistryRequest) throws -> RegistryReply {
        do {
            return try answer(request)
        } catch let error as RegistryError {
            return .rejected(error)
        }
    }

    /// A base model is stored only if its checkpoint decodes (magic, CRC, architecture, finite values) and
    /// carries the claimed version and SHA-256 content hash: workers and devices trust what the registry serves.
    static func checkBaseModel(_ checkpoint: [UInt8], version: ModelVersion, hash: String) throws(RegistryError) {
        let contents: ModelCheckpoint.Contents
        do {
            contents = try ModelCheckpoint.decode(checkpoint)
        } catch {
            throw RegistryError(.invalidModel, "base model \(version) does not decode: \(error)")
        }
        guard contents.version == version else {
            throw RegistryError(.invalidModel, "checkpoint holds \(contents.version), uploaded as \(version)")
        }
        let actual = ContentHash.model(architecture: contents.architecture, parameters: contents.parameters).hex
        guard actual == hash.lowercased() else {
            throw RegistryError(.hashMismatch, "base model \(version) claims hash \(hash.prefix(16)), content is \(actual.prefix(16))")
        }
    }

    private func answer(_ request: RegistryRequest) throws -> RegistryReply {
        switch request {
        case .storeBatch(let batch):
            let outcome = try store.storeBatch(batch)
            return .batchStored(device: batch.device, sequence: batch.sequence, duplicate: outcome == .duplicate)
        case .headRequest(let query):
            return .head(
                try store.head(
                    query.user, ifNoneMatch: query.haveHash, modelVersion: query.modelVersion,
                    freezePoint: query.freezePoint, hyperParameterHash: query.hyperParameterHash))
        case .latestHead(let user):
            return .latestHead(user, try store.latestHead(user))
        case .featureFetch(let query):
            guard query.limit > 0 else {
                throw RegistryError(.valueOutOfRange, "feature page limit \(query.limit) must be positive")
            }
            let rows = try store.features(query.user, stamps: query.stamps, after: query.after, limit: query.limit)
            return .features(rows, next: rows.count == query.limit ? rows.last?.id : nil)
        case .commit(let commit):
            return .commit(try store.commitHead(commit))
        case .baseModelRequest(let version):
            return .baseModel(version, try store.baseModel(version))
        case .storeBaseModel(let version, let hash, let checkpoint):
            try Self.checkBaseModel(checkpoint, version: version, hash: hash)
            let outcome = try store.putBaseModel(version: version, hash: hash.lowercased(), blob: Data(checkpoint))
            return .baseModelStored(version, hash: hash.lowercased(), alreadyPresent: outcome == .alreadyPresent)
        case .sampleCounts(let stamps):
            return .sampleCounts(stamps, try store.sampleCounts(stamps: stamps))
        case .durableSequences(let device):
            return .durableSequences(device, try store.durableSequences(device: device))
        case .acknowledgedSequences(let device, let modelVersion, let freezePoint):
            return .durableSequences(
                device,
                try store.acknowledgedSequences(device: device, modelVersion: modelVersion, freezePoint: freezePoint))
        case .batchTrained(let device, let sequence):
            return .batchTrained(device, sequence: sequence, trained: try store.isTrained(device: device, sequence: sequence))
        }
    }
}
