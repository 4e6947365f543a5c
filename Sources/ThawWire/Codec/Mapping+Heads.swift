// Public head and base-model types ⇄ generated protobuf types, with their semantic checks.

extension HeadRequest {
    init(_ proto: Thaw_V1_HeadRequest) throws(WireError) {
        try Require.nonEmpty(proto.userID, "head_request.user_id")
        self.init(
            userID: proto.userID, deviceID: proto.deviceID, haveHash: proto.haveHash,
            modelVersion: proto.modelVersion, freezePoint: proto.freezePoint, declinedHash: proto.declinedHash,
            acceptDelta: proto.acceptDelta
        )
    }

    var proto: Thaw_V1_HeadRequest {
        var proto = Thaw_V1_HeadRequest()
        proto.userID = userID
        proto.deviceID = deviceID
        proto.haveHash = haveHash
        proto.modelVersion = modelVersion
        proto.freezePoint = freezePoint
        proto.declinedHash = declinedHash
        proto.acceptDelta = acceptDelta
        return proto
    }
}

extension HeadAnnounce {
    init(_ proto: Thaw_V1_HeadAnnounce) throws(WireError) {
        try Require.nonEmpty(proto.userID, "head_announce.user_id")
        try Require.nonEmpty(proto.headHash, "head_announce.head_hash")
        guard proto.headVersion > 0 else { throw WireError(.missingField, "head_announce.head_version is 0") }
        self.init(
            userID: proto.userID, headVersion: proto.headVersion, headHash: proto.headHash,
            modelVersion: proto.modelVersion, freezePoint: proto.freezePoint, hyperHash: proto.hyperHash)
    }

    var proto: Thaw_V1_HeadAnnounce {
        var proto = Thaw_V1_HeadAnnounce()
        proto.userID = userID
        proto.headVersion = headVersion
        proto.headHash = headHash
        proto.modelVersion = modelVersion
        proto.freezePoint = freezePoint
        proto.hyperHash = hyperHash
        return proto
    }
}

extension HeadReply.Status {
    init(_ proto: Thaw_V1_HeadStatus) throws(WireError) {
        switch proto {
        case .notModified: self = .notModified
        case .head: self = .head
        case .noHead: self = .noHead
        case .staleRequest: self = .staleRequest
        case .headDelta: self = .headDelta
        case .unspecified: throw WireError(.missingField, "head_reply.status is unspecified")
        case .UNRECOGNIZED(let raw): throw WireError(.invalidField, "head_reply.status \(raw) is unknown")
        }
    }

    var proto: Thaw_V1_HeadStatus {
        switch self {
        case .notModified: .notModified
        case .head: .head
        case .noHead: .noHead
        case .staleRequest: .staleRequest
        case .headDelta: .headDelta
        }
    }
}

extension HeadReply {
    init(_ proto: Thaw_V1_HeadReply, headParameters: WireTensor?, headDelta: [UInt8]?) throws(WireError) {
        try Require.nonEmpty(proto.userID, "head_reply.user_id")
        let status = try Status(proto.status)
        if status == .head || status == .headDelta { try Require.nonEmpty(proto.headHash, "head_reply.head_hash") }
        if status == .headDelta {
            try Require.nonEmpty(proto.deltaBaseHash, "head_reply.delta_base_hash")
            switch proto.deltaEncoding {
            case .xorDeflate: break
            case .unspecified: throw WireError(.missingField, "head_reply.delta_encoding is unspecified")
            case .UNRECOGNIZED(let raw): throw WireError(.invalidField, "head_reply.delta_encoding \(raw) is unknown")
            }
        }
        self.init(
            status: status, userID: proto.userID, headVersion: proto.headVersion, parentVersion: proto.parentVersion,
            headHash: proto.headHash, modelVersion: proto.modelVersion, freezePoint: proto.freezePoint,
            hyperHash: proto.hyperHash, durableSeqs: proto.durableSeqs, headParameters: headParameters,
            deltaBaseHash: status == .headDelta ? proto.deltaBaseHash : "", headDelta: headDelta
        )
    }

    var proto: Thaw_V1_HeadReply {
        var proto = Thaw_V1_HeadReply()
        proto.status = status.proto
        proto.userID = userID
        proto.headVersion = headVersion
        proto.parentVersion = parentVersion
        proto.headHash = headHash
        proto.modelVersion = modelVersion
        proto.freezePoint = freezePoint
        proto.hyperHash = hyperHash
        proto.durableSeqs = durableSeqs
        if status == .headDelta {
            proto.deltaBaseHash = deltaBaseHash
            proto.deltaEncoding = .xorDeflate
        }
        return proto
    }
}

extension HeadCommit {
    init(_ proto: Thaw_V1_HeadCommit, headParameters: WireTensor) throws(WireError) {
        try Require.nonEmpty(proto.userID, "head_commit.user_id")
        try Require.nonEmpty(proto.headHash, "head_commit.head_hash")
        try Require.nonEmpty(proto.hyperHash, "head_commit.hyper_hash")
        for (index, batch) in proto.consumed.enumerated() {
            try Require.nonEmpty(batch.deviceID, "head_commit.consumed[\(index)].device_id")
        }
        self.init(
            userID: proto.userID, parentVersion: proto.parentVersion, modelVersion: proto.modelVersion,
            freezePoint: proto.freezePoint, hyperHash: proto.hyperHash, headHash: proto.headHash,
            consumed: proto.consumed.map { BatchRef(deviceID: $0.deviceID, deviceSeq: $0.deviceSeq) },
            metrics: TrainingMetrics(
                loss: proto.metrics.loss, samples: proto.metrics.samples, steps: proto.metrics.steps),
            headParameters: headParameters
        )
    }

    var proto: Thaw_V1_HeadCommit {
        var proto = Thaw_V1_HeadCommit()
        proto.userID = userID
        proto.parentVersion = parentVersion
        proto.modelVersion = modelVersion
        proto.freezePoint = freezePoint
        proto.hyperHash = hyperHash
        proto.headHash = headHash
        proto.consumed = consumed.map { batch in
            var ref = Thaw_V1_BatchRef()
            ref.deviceID = batch.deviceID
            ref.deviceSeq = batch.deviceSeq
            return ref
        }
        proto.metrics.loss = metrics.loss
        proto.metrics.samples = metrics.samples
        proto.metrics.steps = metrics.steps
        return proto
    }
}

extension CommitAck {
    init(_ proto: Thaw_V1_CommitAck) throws(WireError) {
        try Require.nonEmpty(proto.userID, "commit_ack.user_id")
        try Require.nonEmpty(proto.headHash, "commit_ack.head_hash")
        guard proto.version > 0 else { throw WireError(.missingField, "commit_ack.version is 0") }
        self.init(userID: proto.userID, version: proto.version, headHash: proto.headHash)
    }

    var proto: Thaw_V1_CommitAck {
        var proto = Thaw_V1_CommitAck()
        proto.userID = userID
        proto.version = version
        proto.headHash = headHash
        return proto
    }
}

extension CommitConflict {
    init(_ proto: Thaw_V1_CommitConflict) throws(WireError) {
        try Require.nonEmpty(proto.userID, "commit_conflict.user_id")
        self.init(userID: proto.userID, currentVersion: proto.currentVersion, currentHash: proto.currentHash)
    }

    var proto: Thaw_V1_CommitConflict {
        var proto = Thaw_V1_CommitConflict()
        proto.userID = userID
        proto.currentVersion = currentVersion
        proto.currentHash = currentHash
        return proto
    }
}

extension BaseModelRequest {
    init(_ proto: Thaw_V1_BaseModelRequest) {
        self.init(modelVersion: proto.modelVersion)
    }

    var proto: Thaw_V1_BaseModelRequest {
        var proto = Thaw_V1_BaseModelRequest()
        proto.modelVersion = modelVersion
        return proto
    }
}

extension BaseModelReply {
    init(_ proto: Thaw_V1_BaseModelReply, checkpoint: [UInt8]?) throws(WireError) {
        let status: Status
        switch proto.status {
        case .ok: status = .ok
        case .unknownVersion: status = .unknownVersion
        case .unspecified: throw WireError(.missingField, "base_model_reply.status is unspecified")
        case .UNRECOGNIZED(let raw): throw WireError(.invalidField, "base_model_reply.status \(raw) is unknown")
        }
        if status == .ok { try Require.nonEmpty(proto.modelHash, "base_model_reply.model_hash") }
        self.init(modelVersion: proto.modelVersion, modelHash: proto.modelHash, status: status, checkpoint: checkpoint)
    }

    var proto: Thaw_V1_BaseModelReply {
        var proto = Thaw_V1_BaseModelReply()
        proto.modelVersion = modelVersion
        proto.modelHash = modelHash
        proto.status = status == .ok ? .ok : .unknownVersion
        return proto
    }
}

extension BaseModelUpload {
    init(_ proto: Thaw_V1_BaseModelUpload, checkpoint: [UInt8]) throws(WireError) {
        try Require.nonEmpty(proto.modelHash, "base_model_upload.model_hash")
        guard proto.modelVersion > 0 else { throw WireError(.invalidField, "base_model_upload.model_version is 0") }
        self.init(modelVersion: proto.modelVersion, modelHash: proto.modelHash, checkpoint: checkpoint)
    }

    var proto: Thaw_V1_BaseModelUpload {
        var proto = Thaw_V1_BaseModelUpload()
        proto.modelVersion = modelVersion
        proto.modelHash = modelHash
        return proto
    }
}

extension BaseModelStored {
    init(_ proto: Thaw_V1_BaseModelStored) throws(WireError) {
        try Require.nonEmpty(proto.modelHash, "base_model_stored.model_hash")
        self.init(modelVersion: proto.modelVersion, modelHash: proto.modelHash, alreadyPresent: proto.alreadyPresent)
    }

    var proto: Thaw_V1_BaseModelStored {
        var proto = Thaw_V1_BaseModelStored()
        proto.modelVersion = modelVersion
        proto.modelHash = modelHash
        proto.alreadyPresent = alreadyPresent
        return proto
    }
}
