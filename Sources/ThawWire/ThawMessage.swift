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
    case baseModelUpload(BaseModelUpload)
    case baseModelStored(BaseModelStored)
    case sampleCountRequest(SampleCountRequest)
    case sampleCounts(SampleCounts)
    case headRequest(HeadRequest)
    case headReply(HeadReply)
    case headCommit(HeadCommit)
    case commitAck(CommitAck)
    case commitConflict(CommitConflict)
    case headAnnounce(HeadAnnounce)
    case metrics(MetricsReport)
    case errorReply(ErrorReply)
    case freezeSyncRequest(FreezeSyncRequest)
    case freezeSyncReply(FreezeSyncReply)
    case retrainRequest(RetrainRequest)
    case rejectionRecorded(RejectionRecorded)
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
        case .baseModelUpload: .baseModelUpload
        case .baseModelStored: .baseModelStored
        case .sampleCountRequest: .sampleCountRequest
        case .sampleCounts: .sampleCounts
        case .headRequest: .headRequest
        case .headReply: .headReply
        case .headCommit: .headCommit
        case .commitAck: .commitAck
        case .commitConflict: .commitConflict
        case .headAnnounce: .headAnnounce
        case .metrics: .metrics
        case .errorReply: .errorReply
        case .freezeSyncRequest: .freezeSyncRequest
        case .freezeSyncReply: .freezeSyncReply
        case .retrainRequest: .retrainRequest
        case .rejectionRecorded: .rejectionRecorded
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
        case baseModelUpload = "base_model_upload"
        case baseModelStored = "base_model_stored"
        case sampleCountRequest = "sample_count_request"
        case sampleCounts = "sample_counts"
        case headRequest = "head_request"
        case headReply = "head_reply"
        case headCommit = "head_commit"
        case commitAck = "commit_ack"
        case commitConflict = "commit_conflict"
        case headAnnounce = "head_announce"
        case metrics
        case errorReply = "error_reply"
        case freezeSyncRequest = "freeze_sync_request"
        case freezeSyncReply = "freeze_sync_reply"
        case retrainRequest = "retrain_request"
        case rejectionRecorded = "rejection_recorded"
        case fedAvgJoin = "fedavg_join"
        case fedAvgModel = "fedavg_model"
        case fedAvgUpdate = "fedavg_update"
    }
}
