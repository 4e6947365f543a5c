// Freeze-move messages ⇄ generated protobuf types, with their semantic checks.

extension FreezeSyncRequest {
    init(_ proto: Thaw_V1_FreezeSyncRequest) throws(WireError) {
        try Require.nonEmpty(proto.userID, "freeze_sync_request.user_id")
        try Require.nonEmpty(proto.deviceID, "freeze_sync_request.device_id")
        guard proto.freezePoint > 0 else { throw WireError(.missingField, "freeze_sync_request.freeze_point is 0") }
        self.init(
            userID: proto.userID, deviceID: proto.deviceID, modelVersion: proto.modelVersion,
            freezePoint: proto.freezePoint, hyperHash: proto.hyperHash, sampleIDs: proto.sampleIds)
    }

    var proto: Thaw_V1_FreezeSyncRequest {
        var proto = Thaw_V1_FreezeSyncRequest()
        proto.userID = userID
        proto.deviceID = deviceID
        proto.modelVersion = modelVersion
        proto.freezePoint = freezePoint
        proto.hyperHash = hyperHash
        proto.sampleIds = sampleIDs
        return proto
    }
}

extension FreezeSyncReply {
    init(_ proto: Thaw_V1_FreezeSyncReply) throws(WireError) {
        try Require.nonEmpty(proto.deviceID, "freeze_sync_reply.device_id")
        var rejections: [BatchRejected] = []
        for rejection in proto.rejections { rejections.append(try BatchRejected(rejection)) }
        self.init(
            deviceID: proto.deviceID, freezePoint: proto.freezePoint, missingSampleIDs: proto.missingSampleIds,
            rejections: rejections)
    }

    var proto: Thaw_V1_FreezeSyncReply {
        var proto = Thaw_V1_FreezeSyncReply()
        proto.deviceID = deviceID
        proto.freezePoint = freezePoint
        proto.missingSampleIds = missingSampleIDs
        proto.rejections = rejections.map(\.proto)
        return proto
    }
}

extension RetrainRequest {
    init(_ proto: Thaw_V1_RetrainRequest) throws(WireError) {
        try Require.nonEmpty(proto.userID, "retrain_request.user_id")
        try Require.present(proto.hasState, "retrain_request.state")
        self.init(
            userID: proto.userID, state: try WireDeploymentState(proto.state, field: "retrain_request.state"),
            reason: proto.reason)
    }

    var proto: Thaw_V1_RetrainRequest {
        var proto = Thaw_V1_RetrainRequest()
        proto.userID = userID
        proto.state = state.proto
        proto.reason = reason
        return proto
    }
}

extension RejectionRecorded {
    init(_ proto: Thaw_V1_RejectionRecorded) throws(WireError) {
        try Require.nonEmpty(proto.deviceID, "rejection_recorded.device_id")
        self.init(deviceID: proto.deviceID, deviceSeq: proto.deviceSeq)
    }

    var proto: Thaw_V1_RejectionRecorded {
        var proto = Thaw_V1_RejectionRecorded()
        proto.deviceID = deviceID
        proto.deviceSeq = deviceSeq
        return proto
    }
}
