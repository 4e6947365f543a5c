// Public coordinator types ⇄ generated protobuf types.

extension WireDeploymentState {
    init(_ proto: Thaw_V1_DeploymentState, field: String) throws(WireError) {
        try Require.nonEmpty(proto.modelHash, "\(field).model_hash")
        self.init(
            modelVersion: proto.modelVersion, modelHash: proto.modelHash, freezePoint: proto.freezePoint,
            hyperHash: proto.hyperHash, epoch: proto.epoch
        )
    }

    var proto: Thaw_V1_DeploymentState {
        var proto = Thaw_V1_DeploymentState()
        proto.modelVersion = modelVersion
        proto.modelHash = modelHash
        proto.freezePoint = freezePoint
        proto.hyperHash = hyperHash
        proto.epoch = epoch
        return proto
    }
}

extension ModelAnnounce {
    init(_ proto: Thaw_V1_ModelAnnounce) throws(WireError) {
        try Require.present(proto.hasState, "model_announce.state")
        self.init(
            state: try WireDeploymentState(proto.state, field: "model_announce.state"),
            checkpointLocation: proto.checkpointLocation, checkpointByteLength: proto.checkpointByteLength
        )
    }

    var proto: Thaw_V1_ModelAnnounce {
        var proto = Thaw_V1_ModelAnnounce()
        proto.state = state.proto
        proto.checkpointLocation = checkpointLocation
        proto.checkpointByteLength = checkpointByteLength
        return proto
    }
}

extension FreezePointChange {
    init(_ proto: Thaw_V1_FreezePointChange) throws(WireError) {
        try Require.present(proto.hasState, "freeze_point_change.state")
        self.init(
            state: try WireDeploymentState(proto.state, field: "freeze_point_change.state"),
            fromFreezePoint: proto.fromFreezePoint, reason: proto.reason
        )
    }

    var proto: Thaw_V1_FreezePointChange {
        var proto = Thaw_V1_FreezePointChange()
        proto.state = state.proto
        proto.fromFreezePoint = fromFreezePoint
        proto.reason = reason
        return proto
    }
}

extension Invalidation {
    init(_ proto: Thaw_V1_Invalidation) {
        self.init(
            epoch: proto.epoch, modelVersion: proto.modelVersion, userID: proto.userID.isEmpty ? nil : proto.userID,
            sampleIDs: proto.sampleIds, reason: proto.reason
        )
    }

    var proto: Thaw_V1_Invalidation {
        var proto = Thaw_V1_Invalidation()
        proto.epoch = epoch
        proto.modelVersion = modelVersion
        proto.userID = userID ?? ""
        proto.sampleIds = sampleIDs
        proto.reason = reason
        return proto
    }
}

extension Heartbeat {
    init(_ proto: Thaw_V1_Heartbeat) throws(WireError) {
        try Require.present(proto.hasState, "heartbeat.state")
        self.init(
            state: try WireDeploymentState(proto.state, field: "heartbeat.state"),
            coordinatorStartedAtMs: proto.coordinatorStartedAtMs, counter: proto.counter
        )
    }

    var proto: Thaw_V1_Heartbeat {
        var proto = Thaw_V1_Heartbeat()
        proto.state = state.proto
        proto.coordinatorStartedAtMs = coordinatorStartedAtMs
        proto.counter = counter
        return proto
    }
}
