import ThawModel
import ThawNN
import ThawNodes
import ThawWire

/// Small valid inputs for each fuzz target: every wire message kind, two model files, two device caches.
/// Kept small (a few hundred bytes each) so that one mutation and one decode take microseconds.
enum FuzzSeeds {
    static let metadata = WireMetadata(sender: "fuzz-seed", sequence: 7, sentAtUnixMs: 1_700_000_000_000)

    static let state = WireDeploymentState(
        modelVersion: 3, modelHash: "ab12cd34", freezePoint: 2, hyperHash: "hh01", epoch: 5)

    /// One message of every kind, with tensors where the kind carries them.
    static var messages: [ThawMessage] {
        let activations = WireTensor(shape: [2, 3], scalars: [0.5, -1, 2, 0, 0.25, 3])
        return [
            .featureBatch(
                ThawWire.FeatureBatch(
                    userID: "writer-1", deviceID: "phones-0", deviceSeq: 4, modelVersion: 3, modelHash: "ab12cd34",
                    freezePoint: 2, hyperHash: "hh01", sampleIDs: [10, 11], labels: [3, 7], createdAtMs: 99,
                    activations: activations)),
        ] + [ActivationEncoding.float16, .int8].map { encoding -> ThawMessage in
            // The encoded activation frames (docs/PROTOCOL.md, "Activation encodings"): their own decoders.
            .featureBatch(
                ThawWire.FeatureBatch(
                    userID: "writer-1", deviceID: "phones-0", deviceSeq: 5, modelVersion: 3, modelHash: "ab12cd34",
                    freezePoint: 2, hyperHash: encoding.stamp(hash: "hh01"), sampleIDs: [10, 11], labels: [3, 7],
                    createdAtMs: 99, activations: activations, activationEncoding: encoding))
        } + [
            .batchRejected(
                BatchRejected(deviceID: "phones-0", deviceSeq: 4, reason: .staleFreezePoint, currentState: state)),
            .batchAck(BatchAck(deviceID: "phones-0", durableSeqs: [1, 2, 4])),
            .featureStored(FeatureStored(deviceID: "phones-0", deviceSeq: 4, duplicate: false)),
            .featureFetch(FeatureFetch(userID: "writer-1", modelVersion: 3, freezePoint: 2, maxSamples: 64)),
            .featureSet(
                FeatureSet(userID: "writer-1", sampleIDs: [10, 11], labels: [3, 7], activations: activations)),
            .modelAnnounce(ModelAnnounce(state: state, checkpointLocation: "registry", checkpointByteLength: 120)),
            .freezePointChange(FreezePointChange(state: state, fromFreezePoint: 3, reason: "operator")),
            .invalidation(
                ThawWire.Invalidation(epoch: 5, modelVersion: 3, userID: "writer-1", sampleIDs: [10], reason: "x")),
            .heartbeat(Heartbeat(state: state, coordinatorStartedAtMs: 12, counter: 9)),
            .baseModelRequest(BaseModelRequest(modelVersion: 3)),
            .baseModelReply(
                BaseModelReply(modelVersion: 3, modelHash: "ab12cd34", status: .ok, checkpoint: [1, 2, 3])),
            .headRequest(
                HeadRequest(userID: "writer-1", deviceID: "phones-0", haveHash: "", modelVersion: 3, freezePoint: 2)),
            .headReply(
                HeadReply(
                    status: .head, userID: "writer-1", headVersion: 2, parentVersion: 1, headHash: "ff00",
                    modelVersion: 3, freezePoint: 2, hyperHash: "hh01", durableSeqs: [1, 2],
                    headParameters: WireTensor(flat: [0.1, 0.2, 0.3]))),
            .headRequest(
                HeadRequest(
                    userID: "writer-1", deviceID: "phones-0", haveHash: "ff00", modelVersion: 3, freezePoint: 2,
                    acceptDelta: true)),
            .headReply(
                HeadReply(
                    status: .headDelta, userID: "writer-1", headVersion: 3, parentVersion: 2, headHash: "ee11",
                    modelVersion: 3, freezePoint: 2, hyperHash: "hh01", durableSeqs: [3], headParameters: nil,
                    deltaBaseHash: "ff00", headDelta: [0x78, 0x9C, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01])),
            .headCommit(
                ThawWire.HeadCommit(
                    userID: "writer-1", parentVersion: 1, modelVersion: 3, freezePoint: 2, hyperHash: "hh01",
                    headHash: "ff00", consumed: [BatchRef(deviceID: "phones-0", deviceSeq: 4)],
                    metrics: TrainingMetrics(loss: 0.5, samples: 2, steps: 1),
                    headParameters: WireTensor(flat: [0.1, 0.2, 0.3]))),
            .commitAck(CommitAck(userID: "writer-1", version: 2, headHash: "ff00")),
            .commitConflict(CommitConflict(userID: "writer-1", currentVersion: 3, currentHash: "ee11")),
            .metrics(
                MetricsReport(
                    node: "worker-1", role: "worker", timestampMs: 5, gauges: ["loss": 0.5],
                    counters: ["refused": 2], labels: ["user": "writer-1"])),
            .errorReply(ErrorReply(code: .malformed, message: "bad", inReplyToSequence: 7)),
        ]
    }

    /// Two tiny model files: a small CNN and an MLP (a few hundred bytes each).
    static var modelFiles: [[UInt8]] {
        let architectures = [
            ModelArchitecture(
                inputShape: [1, 6, 6],
                layers: [
                    .conv2D(inChannels: 1, outChannels: 2, kernel: 3, stride: 1, padding: 0), .relu,
                    .maxPool2D(size: 2, stride: 2), .flatten, .dropout(rate: 0.25), .dense(inputs: 8, outputs: 3),
                ]),
            ModelArchitecture(
                inputShape: [4], layers: [.dense(inputs: 4, outputs: 5), .relu, .dense(inputs: 5, outputs: 3)]),
        ]
        return architectures.enumerated().map { index, architecture in
            let parameters = (0..<architecture.parameterCount).map { Float($0 % 7) * 0.125 - 0.375 }
            return ModelCheckpoint.encode(
                ModelCheckpoint.Contents(
                    architecture: architecture, version: ModelVersion(UInt64(index + 1)), parameters: parameters))
        }
    }

    /// Two device caches: an empty one and one with entries, checkpoints and a deployment.
    static var snapshots: [DeviceSnapshot] {
        let stamp = ActivationStamp(
            modelVersion: ModelVersion(3), freezePoint: FreezePoint(2), hyperParameterHash: "hh01")
        let entries = (0..<3).map { index in
            CachedActivation(
                sampleId: UInt64(10 + index), label: index, annotated: true,
                activation: Activation(shape: [2, 2], scalars: [0.5, Float(index), -1, 2]), stamp: stamp,
                createdAt: Timestamp(milliseconds: 1000 + UInt64(index)),
                checkpoints: index == 1 ? [1: Activation(shape: [3], scalars: [1, 2, 3])] : [:],
                upload: index == 0 ? .durable(seq: 2) : .pending)
        }
        return [
            DeviceSnapshot(nextSequence: 1, deployment: nil, annotatedLabels: [:], entries: []),
            DeviceSnapshot(
                nextSequence: 5,
                deployment: DeploymentState(
                    modelVersion: ModelVersion(3), modelHash: "ab12cd34", freezePoint: FreezePoint(2),
                    hyperParameterHash: "hh01", epoch: 5),
                annotatedLabels: [10: 0, 11: 1, 12: 2, 13: 4], entries: entries),
        ]
    }
}
