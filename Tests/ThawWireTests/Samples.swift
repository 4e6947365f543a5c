import ThawWire

/// One fixed, representative message per kind: the round-trip, fixture and fuzz tests all start here.
enum Samples {
    static let metadata = WireMetadata(sender: "device-1", sequence: 42, sentAtUnixMs: 1_764_650_000_000)

    static let state = WireDeploymentState(
        modelVersion: 3, modelHash: "ab12cd34", freezePoint: 4, hyperHash: "ff00", epoch: 7
    )

    /// A [3, 4] tensor with distinct, exactly representable values.
    static let activations = WireTensor(shape: [3, 4], scalars: (0..<12).map { Float($0) * 0.25 - 1 })
    static let head = WireTensor(flat: [0.5, -1.5, 2, 0, 3.25])

    static let featureBatch = FeatureBatch(
        userID: "user-7", deviceID: "device-1", deviceSeq: 9, modelVersion: 3, modelHash: "ab12cd34",
        freezePoint: 4, hyperHash: "ff00", sampleIDs: [100, 101, 102], labels: [0, 5, 9],
        createdAtMs: 1_764_649_999_000, activations: activations
    )

    static let headCommit = HeadCommit(
        userID: "user-7", parentVersion: 2, modelVersion: 3, freezePoint: 4, hyperHash: "ff00",
        headHash: "cafe", consumed: [BatchRef(deviceID: "device-1", deviceSeq: 9)],
        metrics: TrainingMetrics(loss: 0.375, samples: 3, steps: 12), headParameters: head
    )

    static let headReply = HeadReply(
        status: .head, userID: "user-7", headVersion: 3, parentVersion: 2, headHash: "cafe", modelVersion: 3,
        freezePoint: 4, hyperHash: "ff00", durableSeqs: [7, 8, 9], headParameters: head
    )

    static let headReplyDelta = HeadReply(
        status: .headDelta, userID: "user-7", headVersion: 4, parentVersion: 3, headHash: "d00d", modelVersion: 3,
        freezePoint: 4, hyperHash: "ff00", durableSeqs: [10], headParameters: nil, deltaBaseHash: "cafe",
        headDelta: [0x78, 0x9C, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01]
    )

    /// Further forms of a kind, pinned by their own fixture (the name is the file's base name).
    static let variants: [(name: String, message: ThawMessage)] = [
        ("head_reply_delta", .headReply(headReplyDelta))
    ]

    /// Every kind once; the name is the fixture file's base name.
    static let all: [(name: String, message: ThawMessage)] = [
        ("feature_batch", .featureBatch(featureBatch)),
        (
            "batch_rejected",
            .batchRejected(
                BatchRejected(
                    deviceID: "device-1", deviceSeq: 9, reason: .staleFreezePoint, currentState: state,
                    detail: "freeze point 3 is stale"
                )
            )
        ),
        ("batch_ack", .batchAck(BatchAck(deviceID: "device-1", durableSeqs: [1, 2, 9]))),
        ("feature_stored", .featureStored(FeatureStored(deviceID: "device-1", deviceSeq: 9, duplicate: true))),
        (
            "feature_fetch",
            .featureFetch(
                FeatureFetch(
                    userID: "user-7", modelVersion: 3, freezePoint: 4, maxSamples: 512, hyperHash: "ff00", afterRow: 17))
        ),
        (
            "feature_set",
            .featureSet(
                FeatureSet(
                    userID: "user-7", sampleIDs: [100, 101, 102], labels: [0, 5, 9], activations: activations,
                    rowIDs: [18, 19, 25])
            )
        ),
        (
            "model_announce",
            .modelAnnounce(
                ModelAnnounce(state: state, checkpointLocation: "tcp://127.0.0.1:5601", checkpointByteLength: 4096)
            )
        ),
        (
            "freeze_point_change",
            .freezePointChange(FreezePointChange(state: state, fromFreezePoint: 3, reason: "latency budget"))
        ),
        (
            "invalidation",
            .invalidation(
                Invalidation(epoch: 7, modelVersion: 3, userID: "user-7", sampleIDs: [101], reason: "relabelled")
            )
        ),
        (
            "heartbeat",
            .heartbeat(Heartbeat(state: state, coordinatorStartedAtMs: 1_764_640_000_000, counter: 17))
        ),
        ("base_model_request", .baseModelRequest(BaseModelRequest(modelVersion: 3))),
        (
            "base_model_reply",
            .baseModelReply(
                BaseModelReply(
                    modelVersion: 3, modelHash: "ab12cd34", status: .ok,
                    checkpoint: [0x54, 0x48, 0x41, 0x57, 0, 1, 2, 255])
            )
        ),
        (
            "base_model_upload",
            .baseModelUpload(
                BaseModelUpload(modelVersion: 4, modelHash: "ef56ab78", checkpoint: [0x54, 0x48, 0x41, 0x57, 9, 8, 7]))
        ),
        (
            "sample_count_request",
            .sampleCountRequest(SampleCountRequest(modelVersion: 4, freezePoint: 6, hyperHash: "hh01"))
        ),
        (
            "sample_counts",
            .sampleCounts(
                SampleCounts(modelVersion: 4, freezePoint: 6, hyperHash: "hh01", counts: ["writer-1": 40, "writer-2": 7]))
        ),
        ("base_model_stored", .baseModelStored(BaseModelStored(modelVersion: 4, modelHash: "ef56ab78", alreadyPresent: true))),
        (
            "head_request",
            .headRequest(
                HeadRequest(
                    userID: "user-7", deviceID: "device-1", haveHash: "beef", modelVersion: 3, freezePoint: 4,
                    declinedHash: "cafe", acceptDelta: true)
            )
        ),
        ("head_reply", .headReply(headReply)),
        ("head_commit", .headCommit(headCommit)),
        ("commit_ack", .commitAck(CommitAck(userID: "user-7", version: 3, headHash: "cafe"))),
        (
            "head_announce",
            .headAnnounce(
                HeadAnnounce(
                    userID: "user-7", headVersion: 3, headHash: "cafe", modelVersion: 3, freezePoint: 4,
                    hyperHash: "ff00"))
        ),
        (
            "commit_conflict",
            .commitConflict(CommitConflict(userID: "user-7", currentVersion: 4, currentHash: "d00d"))
        ),
        (
            "metrics",
            .metrics(
                MetricsReport(
                    node: "worker-1", role: "worker", timestampMs: 1_764_650_000_500,
                    gauges: ["loss": 0.25, "queue.depth": 3], counters: ["batches.trained": 12, "commits": 2],
                    labels: ["model.version": "3", "freeze.point": "4"]
                )
            )
        ),
        ("error_reply", .errorReply(ErrorReply(code: .malformed, message: "bad header", inReplyToSequence: 41))),
        (
            "freeze_sync_request",
            .freezeSyncRequest(
                FreezeSyncRequest(
                    userID: "user-7", deviceID: "device-1", modelVersion: 3, freezePoint: 4, hyperHash: "ff00",
                    sampleIDs: [100, 101, 102]))
        ),
        (
            "freeze_sync_reply",
            .freezeSyncReply(
                FreezeSyncReply(
                    deviceID: "device-1", freezePoint: 4, missingSampleIDs: [101],
                    rejections: [
                        BatchRejected(
                            deviceID: "device-1", deviceSeq: 9, reason: .staleFreezePoint, currentState: state,
                            detail: "freeze point 5 is stale")
                    ]))
        ),
        ("retrain_request", .retrainRequest(RetrainRequest(userID: "user-7", state: state, reason: "advanced"))),
        ("rejection_recorded", .rejectionRecorded(RejectionRecorded(deviceID: "device-1", deviceSeq: 9))),
        ("fedavg_join", .fedAvgJoin(FedAvgJoin(clientID: "phones-3", samples: 24))),
        (
            "fedavg_model",
            .fedAvgModel(
                FedAvgModel(
                    clientID: "phones-3", round: 2, localEpochs: 5, batchSize: 10, learningRate: 0.05, freezePoint: 4,
                    weights: head))
        ),
        (
            "fedavg_update",
            .fedAvgUpdate(FedAvgUpdate(clientID: "phones-3", round: 2, samples: 24, loss: 0.375, weights: head))
        ),
    ]
}
