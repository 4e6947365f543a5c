import Foundation
import ThawData
import ThawNN
import ThawNodes
import ThawWire
import ThawZMQ

/// A stand-in phone that only produces load: real backbone activations of shipped test images at the
/// deployed freeze point, as `FeatureBatch`es a device would PUSH, without a battery, cache or outbox.
/// Not Sendable: it owns a `Model`, whose layers keep per-call buffers.
///
/// The system benchmark and the registry contract tests use it to drive the cloud side (workers and
/// registry) at a known rate, independent of the device's flush policy.
public struct SyntheticPhone {
    public let state: DeploymentState
    public let user: String
    public let device: String
    private let model: Model
    private let images: HandwritingSamples

    public init(model: Model, state: DeploymentState, images: HandwritingSamples, user: String, device: String) {
        self.model = model
        self.state = state
        self.images = images
        self.user = user
        self.device = device
    }

    /// Batch `seq` with `count` samples: test images `seq * count ..< (seq + 1) * count`, wrapped around.
    public func batch(seq: UInt64, count: Int) -> ThawMessage {
        let first = Int(seq) * count
        let samples = (first..<(first + count)).map { $0 % images.count }
        let k = state.freezePoint.index
        let raw = Tensor(shape: [count, 1, images.rows, images.columns], scalars: images.floatPixels(samples))
        let activations = model.forward(raw, layers: 0..<k, training: false)
        return .featureBatch(
            ThawWire.FeatureBatch(
                userID: user, deviceID: device, deviceSeq: seq, modelVersion: state.modelVersion.number,
                modelHash: state.modelHash, freezePoint: UInt32(k), hyperHash: state.hyperParameterHash,
                sampleIDs: samples.map(UInt64.init), labels: images.intLabels(samples).map(UInt32.init),
                createdAtMs: WallClock.nowMs(),
                activations: WireTensor(shape: activations.shape, scalars: activations.scalars)))
    }

    /// A head pull for this phone's user under its deployment, holding no head yet.
    public var headRequest: HeadRequest {
        HeadRequest(
            userID: user, deviceID: device, haveHash: "", modelVersion: state.modelVersion.number,
            freezePoint: UInt32(state.freezePoint.index))
    }

    /// PUSHes `messages` to the workers at `endpoints`, each batch to its user's worker
    /// (``WorkerAffinity``, as devices route them), and keeps the sockets open until they are written out.
    /// Pushes `messages` (calling `connected` once the connections had time to complete, right before
    /// the first send, so a measurement can start there), then keeps the sockets open while `whileOpen` runs: a batch still queued in a
    /// PUSH pipe when its socket closes is lost after the linger time (a worker that holds deliveries
    /// reads them as it goes), and these synthetic phones never re-send.
    public static func push(
        _ messages: [ThawMessage], to endpoints: [Endpoint], connected: () -> Void = {},
        whileOpen: () async throws -> Void = {}
    ) async throws {
        let context = try ZMQContext()
        defer { try? context.shutdown() }
        let affinity = WorkerAffinity(endpoints: endpoints.map(\.rawValue))
        try await withSocketLoop(
            context: context,
            sockets: endpoints.map { SocketSpec(kind: .push, connect: [$0], options: [.linger(.seconds(5))]) }
        ) { loop in
            // Let every connection complete first.
            try await Task.sleep(for: .milliseconds(500))
            var stamper = EnvelopeStamper(sender: "synthetic-phones")
            connected()
            for message in messages {
                let worker = if case .featureBatch(let batch) = message { affinity.worker(for: batch.userID) } else { 0 }
                try await loop.send(try stamper.encode(message), on: loop.sockets[worker])
            }
            try await whileOpen()
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    /// Runs `body` with a function that PUSHes one message to the workers at `endpoints` (connected once,
    /// kept open for the whole body), for benchmarks that pace their batches.
    public static func withPusher<T: Sendable>(
        to endpoints: [Endpoint], _ body: (_ push: (ThawMessage) async throws -> Void) async throws -> T
    ) async throws -> T {
        let context = try ZMQContext()
        defer { try? context.shutdown() }
        return try await withSocketLoop(
            context: context,
            sockets: [SocketSpec(kind: .push, connect: endpoints, options: [.linger(.seconds(5))])]
        ) { loop in
            try await Task.sleep(for: .milliseconds(500))
            var stamper = EnvelopeStamper(sender: "synthetic-phones")
            return try await body { message in
                try await loop.send(try stamper.encode(message), on: loop.sockets[0])
            }
        }
    }
}
