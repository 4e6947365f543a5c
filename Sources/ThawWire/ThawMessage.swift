/// Every message Thaw nodes exchange, one case per protobuf payload kind.
///
/// This enum (not the generated protobuf types, which stay internal) is ThawWire's public surface:
/// build one, hand it to ``WireCodec/encode(_:metadata:)``, and get one back from
/// ``WireCodec/decode(_:limits:)`` only after it passed validation.
public enum ThawMessage: Sendable, Equatable {
    case featureBatch(FeatureBatch)
    case batchRejected(BatchRejected)
    case batchAck(BatchAck)
    case featureStored(FeatureStored)
    case featureFetch(FeatureFetch)
    case featureSet(FeatureSet)
    case modelAnnounce(ModelAnnounce)
    case freezePointChange(FreezePointChange)
    case invalidation(Invalidation)
    case heartbeat(Heartbeat)
    case baseModelRequest(BaseModelRequest)
    case baseModelReply(BaseModelReply)
    case headRequest(HeadRequest)
    case headReply(HeadReply)
    case headCommit(HeadCommit)
    case commitAck(CommitAck)
    case commitConflict(CommitConflict)
    case metrics(MetricsReport)
    case errorReply(ErrorReply)
    case fedAvgJoin(FedAvgJoin)
    case fedAvgModel(FedAvgModel)
    case fedAvgUpdate(FedAvgUpdate)

    /// The payload kind without its content, for logs, metrics and dispatch tables.
    public var kind: Kind {
        switch self {
        case .featureBatch: .featureBatch
        case .batchRejected: .batchRejected
        case .batchAck: .batchAck
        case .featureStored: .featureStored
        case .featureFetch: .featureFetch
        case .featureSet: .featureSet
        case .modelAnnounce: .modelAnnounce
        case .freezePointChange: .freezePointChange
        case .invalidation: .invalidation
        case .heartbeat: .heartbeat
        case .baseModelRequest: .baseModelRequest
        case .baseModelReply: .baseModelReply
        case .headRequest: .headRequest
        case .headReply: .headReply
        case .headCommit: .headCommit
        case .commitAck: .commitAck
        case .commitConflict: .commitConflict
        case .metrics: .metrics
        case .errorReply: .errorReply
        case .fedAvgJoin: .fedAvgJoin
        case .fedAvgModel: .fedAvgModel
        case .fedAvgUpdate: .fedAvgUpdate
        }
    }

    /// The payload kinds, named as in the `Envelope.payload` oneof.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case featureBatch = "feature_batch"
        case batchRejected = "batch_rejected"
        case batchAck = "batch_ack"
        case featureStored = "feature_stored"
        case featureFetch = "feature_fetch"
        case featureSet = "feature_set"
        case modelAnnounce = "model_announce"
        case freezePointChange = "freeze_point_change"
        case invalidation
        case heartbeat
        case baseModelRequest = "base_model_request"
        case baseModelReply = "base_model_reply"
        case headRequest = "head_request"
        case headReply = "head_reply"
        case headCommit = "head_commit"
        case commitAck = "commit_ack"
        case commitConflict = "commit_conflict"
        case metrics
        case errorReply = "error_reply"
        case fedAvgJoin = "fedavg_join"
        case fedAvgModel = "fedavg_model"
        case fedAvgUpdate = "fedavg_update"
    }
}
