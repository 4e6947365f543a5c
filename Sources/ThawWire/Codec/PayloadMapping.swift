/// The one place that knows which protobuf payload and which attachments each ``ThawMessage`` uses.
enum PayloadMapping {
    typealias Payload = Thaw_V1_Envelope.OneOf_Payload

    /// The oneof payload and the raw frames to send after the header, in order.
    static func payload(of message: ThawMessage) -> (Payload, [Attachment]) {
        switch message {
        case .featureBatch(let m):
            (
                .featureBatch(m.proto),
                [.activations(name: AttachmentName.activations, m.activations, m.activationEncoding)]
            )
        case .batchRejected(let m): (.batchRejected(m.proto), [])
        case .batchAck(let m): (.batchAck(m.proto), [])
        case .featureStored(let m): (.featureStored(m.proto), [])
        case .featureFetch(let m): (.featureFetch(m.proto), [])
        case .featureSet(let m): (.featureSet(m.proto), [.float(name: AttachmentName.activations, m.activations)])
        case .modelAnnounce(let m): (.modelAnnounce(m.proto), [])
        case .freezePointChange(let m): (.freezePointChange(m.proto), [])
        case .invalidation(let m): (.invalidation(m.proto), [])
        case .heartbeat(let m): (.heartbeat(m.proto), [])
        case .baseModelRequest(let m): (.baseModelRequest(m.proto), [])
        case .baseModelReply(let m):
            (.baseModelReply(m.proto), m.checkpoint.map { [.bytes(name: AttachmentName.checkpoint, $0)] } ?? [])
        case .baseModelUpload(let m): (.baseModelUpload(m.proto), [.bytes(name: AttachmentName.checkpoint, m.checkpoint)])
        case .baseModelStored(let m): (.baseModelStored(m.proto), [])
        case .sampleCountRequest(let m): (.sampleCountRequest(m.proto), [])
        case .sampleCounts(let m): (.sampleCounts(m.proto), [])
        case .headRequest(let m): (.headRequest(m.proto), [])
        case .headReply(let m):
            (
                .headReply(m.proto),
                m.status == .headDelta
                    ? [.bytes(name: AttachmentName.headDelta, m.headDelta ?? [])]
                    : m.headParameters.map { [.float(name: AttachmentName.headParameters, $0)] } ?? []
            )
        case .headCommit(let m):
            (.headCommit(m.proto), [.float(name: AttachmentName.headParameters, m.headParameters)])
        case .commitAck(let m): (.commitAck(m.proto), [])
        case .commitConflict(let m): (.commitConflict(m.proto), [])
        case .headAnnounce(let m): (.headAnnounce(m.proto), [])
        case .metrics(let m): (.metrics(m.proto), [])
        case .errorReply(let m): (.errorReply(m.proto), [])
        case .freezeSyncRequest(let m): (.freezeSyncRequest(m.proto), [])
        case .freezeSyncReply(let m): (.freezeSyncReply(m.proto), [])
        case .retrainRequest(let m): (.retrainRequest(m.proto), [])
        case .rejectionRecorded(let m): (.rejectionRecorded(m.proto), [])
        case .fedAvgJoin(let m): (.fedavgJoin(m.proto), [])
        case .fedAvgModel(let m):
            (.fedavgModel(m.proto), [.float(name: AttachmentName.headParameters, m.weights)])
        case .fedAvgUpdate(let m):
            (.fedavgUpdate(m.proto), [.float(name: AttachmentName.headParameters, m.weights)])
        }
    }

    /// The attachments a payload must be followed by, decided from the header alone.
    static func specs(for payload: Payload) -> [AttachmentSpec] {
        switch payload {
        case .featureBatch:
            [.activations(AttachmentName.activations, ranks: 1...Int.max)]
        case .featureSet:
            [.float(AttachmentName.activations, ranks: 1...Int.max)]
        case .headCommit, .fedavgModel, .fedavgUpdate:
            [.float(AttachmentName.headParameters, ranks: 1...1)]
        case .headReply(let reply):
            switch reply.status {
            case .head: [.float(AttachmentName.headParameters, ranks: 1...1)]
            case .headDelta: [.bytes(AttachmentName.headDelta)]
            default: []
            }
        case .baseModelReply(let reply):
            reply.status == .ok ? [.bytes(AttachmentName.checkpoint)] : []
        case .baseModelUpload:
            [.bytes(AttachmentName.checkpoint)]
        case .batchRejected, .batchAck, .featureStored, .featureFetch, .modelAnnounce, .freezePointChange,
            .invalidation, .heartbeat, .baseModelRequest, .baseModelStored, .sampleCountRequest, .sampleCounts,
            .headRequest, .commitAck, .commitConflict, .headAnnounce, .metrics, .errorReply, .freezeSyncRequest, .freezeSyncReply,
            .retrainRequest, .rejectionRecorded, .fedavgJoin:
            []
        }
    }

    static func kind(of payload: Payload) -> ThawMessage.Kind {
        switch payload {
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
        case .fedavgJoin: .fedAvgJoin
        case .fedavgModel: .fedAvgModel
        case .fedavgUpdate: .fedAvgUpdate
        }
    }

    /// The validated message; `attachments` already match ``specs(for:)`` in order.
    /// - Throws: ``WireError`` `.missingField` or `.invalidField` from the semantic checks.
    static func message(from payload: Payload, attachments: [Attachment]) throws(WireError) -> ThawMessage {
        switch payload {
        case .featureBatch(let p):
            .featureBatch(try FeatureBatch(p, activations: float(attachments, 0), encoding: encoding(attachments, 0)))
        case .batchRejected(let p): .batchRejected(try BatchRejected(p))
        case .batchAck(let p): .batchAck(try BatchAck(p))
        case .featureStored(let p): .featureStored(try FeatureStored(p))
        case .featureFetch(let p): .featureFetch(try FeatureFetch(p))
        case .featureSet(let p): .featureSet(try FeatureSet(p, activations: float(attachments, 0)))
        case .modelAnnounce(let p): .modelAnnounce(try ModelAnnounce(p))
        case .freezePointChange(let p): .freezePointChange(try FreezePointChange(p))
        case .invalidation(let p): .invalidation(Invalidation(p))
        case .heartbeat(let p): .heartbeat(try Heartbeat(p))
        case .baseModelRequest(let p): .baseModelRequest(BaseModelRequest(p))
        case .baseModelReply(let p):
            .baseModelReply(try BaseModelReply(p, checkpoint: attachments.isEmpty ? nil : bytes(attachments, 0)))
        case .baseModelUpload(let p): .baseModelUpload(try BaseModelUpload(p, checkpoint: bytes(attachments, 0)))
        case .baseModelStored(let p): .baseModelStored(try BaseModelStored(p))
        case .sampleCountRequest(let p): .sampleCountRequest(try SampleCountRequest(p))
        case .sampleCounts(let p): .sampleCounts(try SampleCounts(p))
        case .headRequest(let p): .headRequest(try HeadRequest(p))
        case .headReply(let p):
            .headReply(
                try HeadReply(
                    p, headParameters: p.status == .head ? float(attachments, 0) : nil,
                    headDelta: p.status == .headDelta ? bytes(attachments, 0) : nil))
        case .headCommit(let p): .headCommit(try HeadCommit(p, headParameters: float(attachments, 0)))
        case .commitAck(let p): .commitAck(try CommitAck(p))
        case .commitConflict(let p): .commitConflict(try CommitConflict(p))
        case .headAnnounce(let p): .headAnnounce(try HeadAnnounce(p))
        case .metrics(let p): .metrics(try MetricsReport(p))
        case .errorReply(let p): .errorReply(try ErrorReply(p))
        case .freezeSyncRequest(let p): .freezeSyncRequest(try FreezeSyncRequest(p))
        case .freezeSyncReply(let p): .freezeSyncReply(try FreezeSyncReply(p))
        case .retrainRequest(let p): .retrainRequest(try RetrainRequest(p))
        case .rejectionRecorded(let p): .rejectionRecorded(try RejectionRecorded(p))
        case .fedavgJoin(let p): .fedAvgJoin(try FedAvgJoin(p))
        case .fedavgModel(let p): .fedAvgModel(try FedAvgModel(p, weights: float(attachments, 0)))
        case .fedavgUpdate(let p): .fedAvgUpdate(try FedAvgUpdate(p, weights: float(attachments, 0)))
        }
    }

    private static func float(_ attachments: [Attachment], _ index: Int) -> WireTensor {
        guard let tensor = attachments[index].tensor else {
            preconditionFailure("attachments were matched against the payload's specs")
        }
        return tensor
    }

    /// The encoding an activations attachment travelled in.
    private static func encoding(_ attachments: [Attachment], _ index: Int) -> ActivationEncoding {
        guard case .activations(_, _, let encoding) = attachments[index] else { return .float32 }
        return encoding
    }

    private static func bytes(_ attachments: [Attachment], _ index: Int) -> [UInt8] {
        guard case .bytes(_, let blob) = attachments[index] else {
            preconditionFailure("attachments were matched against the payload's specs")
        }
        return blob
    }
}
