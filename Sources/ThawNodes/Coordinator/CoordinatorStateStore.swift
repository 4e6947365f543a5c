import Foundation
import ThawNN

/// What the coordinator persists: the deployment state and when the freeze point last moved.
public struct CoordinatorSnapshot: Sendable, Equatable {
    public var deployment: DeploymentState
    public var lastFreezeMoveAt: Timestamp?

    public init(deployment: DeploymentState, lastFreezeMoveAt: Timestamp?) {
        self.deployment = deployment
        self.lastFreezeMoveAt = lastFreezeMoveAt
    }
}

/// Keeps a ``CoordinatorSnapshot`` in a small JSON file, written atomically and loaded strictly, so that
/// model versions and epochs never go backwards across a restart.
///
/// File: `{"format":1,"modelVersion":3,"modelHash":"…","freezePoint":4,"hyperParameterHash":"…",
/// "epoch":9,"lastFreezeMoveAtMs":…}` (the last key optional). Loading rejects unknown formats, missing or
/// mistyped keys, empty hashes and a freeze point of 0 with ``StateFileError``.
public struct CoordinatorStateStore: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    struct FileContent: Codable, Equatable {
        var format: Int
        var modelVersion: UInt64
        var modelHash: String
        var freezePoint: Int
        var hyperParameterHash: String
        var epoch: UInt64
        var lastFreezeMoveAtMs: UInt64?
    }

    static let formatVersion = 1

    /// Replaces the file with `snapshot` atomically.
    public func save(_ snapshot: CoordinatorSnapshot) throws {
        let state = snapshot.deployment
        let content = FileContent(
            format: Self.formatVersion, modelVersion: state.modelVersion.number, modelHash: state.modelHash,
            freezePoint: state.freezePoint.index, hyperParameterHash: state.hyperParameterHash, epoch: state.epoch,
            lastFreezeMoveAtMs: snapshot.lastFreezeMoveAt?.milliseconds)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data: Data
        do { data = try encoder.encode(content) } catch {
            throw StateFileError(code: .invalidContent, path: path, detail: "cannot encode: \(error)")
        }
        try AtomicFile.write([UInt8](data), to: path)
    }

    /// The stored snapshot, or `nil` when no file exists (a first start).
    /// - Throws: ``StateFileError`` when the file exists but cannot be read or fails validation.
    public func load() throws -> CoordinatorSnapshot? {
        guard let bytes = try AtomicFile.read(path) else { return nil }
        let content: FileContent
        do { content = try JSONDecoder().decode(FileContent.self, from: Data(bytes)) } catch {
            throw StateFileError(code: .invalidContent, path: path, detail: "not a coordinator state file: \(error)")
        }
        guard content.format == Self.formatVersion else {
            throw StateFileError(
                code: .unsupportedVersion, path: path,
                detail: "format \(content.format), expected \(Self.formatVersion)")
        }
        guard content.freezePoint >= 1, !content.modelHash.isEmpty, !content.hyperParameterHash.isEmpty else {
            throw StateFileError(code: .invalidContent, path: path, detail: "empty hash or freeze point below 1")
        }
        return CoordinatorSnapshot(
            deployment: DeploymentState(
                modelVersion: ModelVersion(content.modelVersion), modelHash: content.modelHash,
                freezePoint: FreezePoint(content.freezePoint), hyperParameterHash: content.hyperParameterHash,
                epoch: content.epoch),
            lastFreezeMoveAt: content.lastFreezeMoveAtMs.map(Timestamp.init(milliseconds:)))
    }

    /// Renames an unloadable file to `<path>.corrupt[-n]`; returns the new path.
    public func quarantine() throws -> String { try AtomicFile.quarantine(path) }
}
