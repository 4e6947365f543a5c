import ThawNN
import ThawWire
import ThawZMQ

/// What `thaw ctl` does: one request to the coordinator's control ROUTER, one reply, bounded wait.
public struct ControlClient: Sendable {
    public let endpoint: Endpoint
    public let timeout: Duration
    /// The operator's CURVE key and the coordinator's server key, for a tcp control endpoint.
    public let curve: NodeCurve?

    public init(endpoint: Endpoint, timeout: Duration = .seconds(5), curve: NodeCurve? = nil) {
        self.endpoint = endpoint
        self.timeout = timeout
        self.curve = curve
    }

    public enum Command: Sendable {
        case status
        case freeze(Int)
        case publish(version: UInt64, hash: String)
        case invalidate(user: String?, sampleIDs: [UInt64], reason: String)
    }

    /// Sends `command` and returns the coordinator's state after it.
    /// - Throws: ``NodeError`` `.timeout` without a reply, `.refused` with the coordinator's reason.
    public func send(_ command: Command) async throws -> DeploymentState {
        // The wire requires a model hash in every state; requests carry a marker the coordinator ignores.
        let empty = WireDeploymentState(modelVersion: 0, modelHash: "ctl", freezePoint: 0, hyperHash: "ctl", epoch: 0)
        let message: ThawMessage
        switch command {
        case .status:
            message = .heartbeat(Heartbeat(state: empty, coordinatorStartedAtMs: 0, counter: 0))
        case .freeze(let k):
            var state = empty
            state.freezePoint = UInt32(k)
            message = .freezePointChange(FreezePointChange(state: state, fromFreezePoint: 0, reason: "ctl"))
        case .publish(let version, let hash):
            var state = empty
            state.modelVersion = version
            state.modelHash = hash
            message = .modelAnnounce(ModelAnnounce(state: state, checkpointLocation: "registry", checkpointByteLength: 0))
        case .invalidate(let user, let ids, let reason):
            message = .invalidation(
                ThawWire.Invalidation(epoch: 0, modelVersion: 0, userID: user, sampleIDs: ids, reason: reason))
        }
        let reply = try await OneShotRequest.send(
            message, to: endpoint, sender: "ctl", timeout: timeout, peer: "coordinator", curve: curve)
        switch reply {
        case .heartbeat(let beat): return WireBridge.deployment(beat.state)
        case .errorReply(let refusal): throw NodeError(.refused, refusal.message)
        case let other: throw NodeError(.refused, "unexpected answer \(other.kind)")
        }
    }
}
