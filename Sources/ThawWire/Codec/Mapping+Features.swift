// Public feature types ⇄ generated protobuf types, with their semantic checks.

extension FeatureBatch {
    init(_ proto: Thaw_V1_FeatureBatch, activations: WireTensor, encoding: ActivationEncoding) throws(WireError) {
        try Require.nonEmpty(proto.userID, "feature_batch.user_id")
        try Require.nonEmpty(proto.deviceID, "feature_batch.device_id")
        try Require.nonEmpty(proto.modelHash, "feature_batch.model_hash")
        let n = activations.shape[0]
        guard n > 0 else { throw WireError(.invalidField, "feature_batch holds no samples (activations [0, ...])") }
        try Require.sameCount("feature_batch.sample_ids", proto.sampleIds.count, "activations dim 0", n)
        try Require.sameCount("feature_batch.labels", proto.labels.count, "activations dim 0", n)
        self.init(
            userID: proto.userID, deviceID: proto.deviceID, deviceSeq: proto.deviceSeq,
            modelVersion: proto.modelVersion, modelHash: proto.modelHash, freezePoint: proto.freezePoint,
            hyperHash: proto.hyperHash, sampleIDs: proto.sampleIds, labels: proto.labels,
            createdAtMs: proto.createdAtMs, activations: activations, epoch: proto.epoch,
            activationEncoding: encoding
        )
    }

    var proto: Thaw_V1_FeatureBatch {
        var proto = Thaw_V1_FeatureBatch()
        proto.userID = userID
        proto.deviceID = deviceID
        proto.deviceSeq = deviceSeq
        proto.modelVersion = modelVersion
        proto.modelHash = modelHash
        proto.freezePoint = freezePoint
        proto.hyperHash = hyperHash
        proto.sampleIds = sampleIDs
        proto.labels = labels
        proto.createdAtMs = createdAtMs
        proto.epoch = epoch
        return proto
    }
}

extension BatchRejected.Reason {
    init(_ proto: Thaw_V1_RejectReason) throws(WireError) {
        switch proto {
        case .staleModelVersion: self = .staleModelVersion
        case .staleFreezePoint: self = .staleFreezePoint
        case .staleHyperParameters: self = .staleHyperParameters
        case .invalid: self = .invalid
        case .unspecified: throw WireError(.missingField, "batch_rejected.reason is unspecified")
        case .UNRECOGNIZED(let raw): throw WireError(.invalidField, "batch_rejected.reason \(raw) is unknown")
        }
    }

    var proto: Thaw_V1_RejectReason {
        switch self {
        case .staleModelVersion: .staleModelVersion
        case .staleFreezePoint: .staleFreezePoint
        case .staleHyperParameters: .staleHyperParameters
        case .invalid: .invalid
        }
    }
}

extension BatchRejected {
    init(_ proto: Thaw_V1_BatchRejected) throws(WireError) {
        try Require.nonEmpty(proto.deviceID, "batch_rejected.device_id")
        try Require.present(proto.hasCurrentState, "batch_rejected.current_state")
        self.init(
            deviceID: proto.deviceID, deviceSeq: proto.deviceSeq, reason: try Reason(proto.reason),
            currentState: try WireDeploymentState(proto.currentState, field: "batch_rejected.current_state"),
            detail: proto.detail
        )
    }

    var proto: Thaw_V1_BatchRejected {
        var proto = Thaw_V1_BatchRejected()
        proto.deviceID = deviceID
        proto.deviceSeq = deviceSeq
        proto.reason = reason.proto
        proto.currentState = currentState.proto
        proto.detail = detail
        return proto
    }
}

extension BatchAck {
    init(_ proto: Thaw_V1_BatchAck) throws(WireError) {
        try Require.nonEmpty(proto.deviceID, "batch_ack.device_id")
        self.init(deviceID: proto.deviceID, durableSeqs: proto.durableSeqs)
    }

    var proto: Thaw_V1_BatchAck {
        var proto = Thaw_V1_BatchAck()
        proto.deviceID = deviceID
        proto.durableSeqs = durableSeqs
        return proto
    }
}

extension FeatureStored {
    init(_ proto: Thaw_V1_FeatureStored) throws(WireError) {
        try Require.nonEmpty(proto.deviceID, "feature_stored.device_id")
        self.init(deviceID: proto.deviceID, deviceSeq: proto.deviceSeq, duplicate: proto.duplicate, rowIDs: proto.rowIds)
    }

    var proto: Thaw_V1_FeatureStored {
        var proto = Thaw_V1_FeatureStored()
        proto.deviceID = deviceID
        proto.deviceSeq = deviceSeq
        proto.duplicate = duplicate
        proto.rowIds = rowIDs
        return proto
    }
}

extension FeatureFetch {
    init(_ proto: Thaw_V1_FeatureFetch) throws(WireError) {
        try Require.nonEmpty(proto.userID, "feature_fetch.user_id")
        guard proto.maxSamples > 0 else { throw WireError(.missingField, "feature_fetch.max_samples is 0") }
        self.init(
            userID: proto.userID, modelVersion: proto.modelVersion, freezePoint: proto.freezePoint,
            maxSamples: proto.maxSamples, hyperHash: proto.hyperHash, afterRow: proto.afterRow,
            withoutActivations: proto.withoutActivations
        )
    }

    var proto: Thaw_V1_FeatureFetch {
        var proto = Thaw_V1_FeatureFetch()
        proto.userID = userID
        proto.modelVersion = modelVersion
        proto.freezePoint = freezePoint
        proto.maxSamples = maxSamples
        proto.hyperHash = hyperHash
        proto.afterRow = afterRow
        proto.withoutActivations = withoutActivations
        return proto
    }
}

extension FeatureSet {
    init(_ proto: Thaw_V1_FeatureSet, activations: WireTensor) throws(WireError) {
        try Require.nonEmpty(proto.userID, "feature_set.user_id")
        // A listing (the answer to `without_activations`) names its rows with an activations frame of [0].
        let n = activations.shape == [0] ? proto.labels.count : activations.shape[0]
        try Require.sameCount("feature_set.sample_ids", proto.sampleIds.count, "activations dim 0", n)
        try Require.sameCount("feature_set.labels", proto.labels.count, "activations dim 0", n)
        if !proto.rowIds.isEmpty {
            try Require.sameCount("feature_set.row_ids", proto.rowIds.count, "activations dim 0", n)
            guard zip(proto.rowIds, proto.rowIds.dropFirst()).allSatisfy({ $0 < $1 }) else {
                throw WireError(.invalidField, "feature_set.row_ids are not increasing")
            }
        }
        self.init(
            userID: proto.userID, sampleIDs: proto.sampleIds, labels: proto.labels, activations: activations,
            rowIDs: proto.rowIds)
    }

    var proto: Thaw_V1_FeatureSet {
        var proto = Thaw_V1_FeatureSet()
        proto.userID = userID
        proto.sampleIds = sampleIDs
        proto.labels = labels
        proto.rowIds = rowIDs
        return proto
    }
}

extension SampleCountRequest {
    init(_ proto: Thaw_V1_SampleCountRequest) throws(WireError) {
        try Require.nonEmpty(proto.hyperHash, "sample_count_request.hyper_hash")
        self.init(modelVersion: proto.modelVersion, freezePoint: proto.freezePoint, hyperHash: proto.hyperHash)
    }

    var proto: Thaw_V1_SampleCountRequest {
        var proto = Thaw_V1_SampleCountRequest()
        proto.modelVersion = modelVersion
        proto.freezePoint = freezePoint
        proto.hyperHash = hyperHash
        return proto
    }
}

extension SampleCounts {
    init(_ proto: Thaw_V1_SampleCounts) throws(WireError) {
        guard proto.userIds.count == proto.counts.count else {
            throw WireError(
                .invalidField, "sample_counts has \(proto.userIds.count) user_ids but \(proto.counts.count) counts")
        }
        var counts: [String: UInt64] = [:]
        for (user, count) in zip(proto.userIds, proto.counts) {
            guard !user.isEmpty, counts.updateValue(count, forKey: user) == nil else {
                throw WireError(.invalidField, "sample_counts.user_ids has an empty or repeated id")
            }
        }
        self.init(modelVersion: proto.modelVersion, freezePoint: proto.freezePoint, hyperHash: proto.hyperHash, counts: counts)
    }

    var proto: Thaw_V1_SampleCounts {
        var proto = Thaw_V1_SampleCounts()
        proto.modelVersion = modelVersion
        proto.freezePoint = freezePoint
        proto.hyperHash = hyperHash
        // Sorted, so that equal counts always encode to the same bytes.
        let sorted = counts.sorted { $0.key < $1.key }
        proto.userIds = sorted.map(\.key)
        proto.counts = sorted.map(\.value)
        return proto
    }
}
