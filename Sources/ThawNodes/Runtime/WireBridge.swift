import Foundation
import ThawNN
import ThawWire
import ThawZMQ

/// Converts between the wire's plain values and the engine's and roles' types, at the edge.
///
/// ThawWire never imports ThawNN and ThawNN never imports ThawWire (both are leaves), so the
/// conversions live here, where the roles meet them.
enum WireBridge {
    static func wire(_ state: DeploymentState) -> WireDeploymentState {
        WireDeploymentState(
            modelVersion: state.modelVersion.number, modelHash: state.modelHash,
            freezePoint: UInt32(state.freezePoint.index), hyperHash: state.hyperParameterHash, epoch: state.epoch)
    }

    static func deployment(_ state: WireDeploymentState) -> DeploymentState {
        DeploymentState(
            modelVersion: ModelVersion(state.modelVersion), modelHash: state.modelHash,
            freezePoint: FreezePoint(Int(state.freezePoint)), hyperParameterHash: state.hyperHash, epoch: state.epoch)
    }

    /// The full state a coordinator broadcast carries (heartbeat, model announcement or freeze move).
    static func deploymentState(in message: ThawMessage) -> WireDeploymentState? {
        switch message {
        case .heartbeat(let beat): beat.state
        case .modelAnnounce(let announce): announce.state
        case .freezePointChange(let change): change.state
        default: nil
        }
    }

    static func wire(_ tensor: Tensor) -> WireTensor {
        WireTensor(shape: tensor.shape, scalars: tensor.scalars)
    }

    /// A tensor from the wire: the codec already checked shape against length and finiteness.
    static func tensor(_ wire: WireTensor) -> Tensor {
        Tensor(shape: wire.shape, scalars: wire.scalars)
    }

    static func frames(_ raw: [[UInt8]]) -> [Frame] { raw.map(Frame.init) }

    static func bytes(_ frames: ArraySlice<Frame>) -> [[UInt8]] { frames.map(\.bytes) }
}

/// Numbers outgoing envelopes and stamps them with this node's name and the wall clock.
package struct EnvelopeStamper: Sendable {
    let sender: String
    private var sequence: UInt64 = 0

    package init(sender: String) { self.sender = sender }

    mutating func next() -> WireMetadata {
        sequence += 1
        return WireMetadata(sender: sender, sequence: sequence, sentAtUnixMs: WallClock.nowMs())
    }

    package mutating func encode(_ message: ThawMessage) throws -> [Frame] {
        WireBridge.frames(try WireCodec.encode(message, metadata: next()))
    }

    /// A reply: its envelope's `in_reply_to` is the request's `sequence`, the id the requester matches on.
    package mutating func encode(_ message: ThawMessage, inReplyTo request: UInt64) throws -> [Frame] {
        var metadata = next()
        metadata.inReplyTo = request
        return WireBridge.frames(try WireCodec.encode(message, metadata: metadata))
    }

    mutating func encodePublished(_ message: ThawMessage) throws -> [Frame] {
        WireBridge.frames(try WireCodec.encodePublished(message, metadata: next()))
    }
}

/// Milliseconds since the Unix epoch, for stamps that cross processes.
package enum WallClock {
    package static func nowMs() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }
    static func now() -> Timestamp { Timestamp(milliseconds: nowMs()) }
}
