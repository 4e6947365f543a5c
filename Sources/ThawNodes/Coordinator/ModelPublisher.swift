import Foundation
import ThawModel
import ThawNN
import ThawWire
import ThawZMQ

/// What `thaw ctl publish MODEL` does: first makes the checkpoint durable in the registry, then asks the
/// coordinator to announce it.
///
/// The order matters: workers and devices fetch a newly announced model from the registry at once, so
/// the coordinator must never announce a version the registry cannot serve. Uploading is idempotent
/// (same version and hash: already present), so a publish that failed after the upload can be retried.
public struct ModelPublisher: Sendable {
    public let registry: Endpoint
    public let coordinator: ControlClient
    public let timeout: Duration

    public init(registry: Endpoint, coordinator: ControlClient, timeout: Duration = .seconds(30)) {
        self.registry = registry
        self.coordinator = coordinator
        self.timeout = timeout
    }

    /// Uploads and announces the checkpoint file at `path`.
    /// - Returns: the coordinator's deployment state after the announcement.
    /// - Throws: `ModelFileError` for an unreadable file, ``NodeError`` `.refused` when the registry or the
    ///   coordinator refuses (for example a version that is not newer), `.timeout` without an answer.
    public func publish(checkpointAt path: String) async throws -> DeploymentState {
        let contents = try ModelCheckpoint.load(from: path)
        let hash = ContentHash.model(architecture: contents.architecture, parameters: contents.parameters).hex
        let upload = BaseModelUpload(
            modelVersion: contents.version.number, modelHash: hash, checkpoint: ModelCheckpoint.encode(contents))
        let reply = try await OneShotRequest.send(
            .baseModelUpload(upload), to: registry, sender: "ctl", timeout: timeout, peer: "registry",
            curve: coordinator.curve)
        switch reply {
        case .baseModelStored(let stored) where stored.modelVersion == upload.modelVersion && stored.modelHash == hash:
            break
        case .errorReply(let refusal): throw NodeError(.refused, "the registry refused the model: \(refusal.message)")
        case let other: throw NodeError(.refused, "unexpected answer \(other.kind) from the registry")
        }
        return try await coordinator.send(.publish(version: contents.version.number, hash: hash))
    }
}
