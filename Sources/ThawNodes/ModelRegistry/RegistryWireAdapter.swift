import Foundation
import ThawNN
import ThawWire

/// Maps wire requests to ``RegistryRequest``s and the store's answers back to wire replies.
///
/// Feature batches and head commits are checked against the contract of the base model they claim
/// (``RegistryContracts``) before they reach the store: stored features and heads are trusted by every
/// worker and device that later reads them.
enum RegistryWireAdapter {
    /// The reply to `request`.
    /// - Throws: ``InputViolation`` when the request is refused because of what the peer sent (a kind
    ///   the registry does not serve, tensors that do not fit the model, values the store rejects);
    ///   the store's database errors otherwise.
    static func answer(
        _ request: DecodedMessage, machine: ModelRegistryStateMachine, contracts: inout RegistryContracts
    ) throws -> ThawMessage {
        let sequence = request.metadata.sequence
        switch request.message {
        case .featureBatch(let batch):
            try contracts.contract(ModelVersion(batch.modelVersion), store: machine.store).checkBatch(
                shape: batch.activations.shape, labels: batch.labels, freezePoint: batch.freezePoint,
                what: "feature batch \(batch.deviceID)#\(batch.deviceSeq)")
            let reply = try machine.handle(.storeBatch(featureBatch(batch)))
            if case .batchStored(let device, let seq, let duplicate) = reply {
                // `duplicate` tells the worker it has nothing to do. A redelivered batch that is stored but
                // in no committed head yet (its first worker died before committing) is reported as new,
                // so the worker that got the redelivery trains it.
                var done = duplicate
                if duplicate, case .batchTrained(_, _, let trained) = try machine.handle(.batchTrained(device, sequence: seq)) {
                    done = trained
                }
                return .featureStored(FeatureStored(deviceID: device.rawValue, deviceSeq: seq, duplicate: done))
            }
            return try refusal(reply, sequence)
        case .headRequest(let query):
            let head = try machine.handle(
                .headRequest(
                    HeadQuery(
                        user: UserID(query.userID), device: DeviceID(query.deviceID),
                        haveHash: query.haveHash.isEmpty ? nil : query.haveHash,
                        modelVersion: ModelVersion(query.modelVersion),
                        freezePoint: FreezePoint(Int(query.freezePoint)))))
            var durable: [UInt64] = []
            // Only batches already trained into a head (or stamped for another deployment) are reported
            // durable: the device keeps re-sending the others until some worker has trained them.
            if !query.deviceID.isEmpty,
                case .durableSequences(_, let seqs) = try machine.handle(
                    .acknowledgedSequences(
                        DeviceID(query.deviceID), modelVersion: ModelVersion(query.modelVersion),
                        freezePoint: FreezePoint(Int(query.freezePoint))))
            {
                durable = seqs
            }
            guard case .head(let lookup) = head else { return try refusal(head, sequence) }
            return .headReply(headReply(lookup, query: query, durable: durable))
        case .featureFetch(let fetch):
            let stamps = FeatureStamps(
                modelVersion: ModelVersion(fetch.modelVersion), freezePoint: FreezePoint(Int(fetch.freezePoint)),
                hyperParameterHash: fetch.hyperHash)
            let reply = try machine.handle(
                .featureFetch(
                    FeatureQuery(
                        user: UserID(fetch.userID), stamps: stamps, limit: Int(max(fetch.maxSamples, 1)))))
            guard case .features(let rows, _) = reply else { return try refusal(reply, sequence) }
            return .featureSet(featureSet(user: fetch.userID, rows))
        case .headCommit(let commit):
            // The head must fit the model and hash to the SHA-256 it claims: devices swap heads by that hash.
            try contracts.contract(ModelVersion(commit.modelVersion), store: machine.store).checkHead(
                parameters: commit.headParameters.scalars, claimedHash: commit.headHash,
                freezePoint: commit.freezePoint, what: "head commit for \(commit.userID)")
            let reply = try machine.handle(
                .commit(
                    HeadCommit(
                        user: UserID(commit.userID), parentVersion: commit.parentVersion,
                        stamps: FeatureStamps(
                            modelVersion: ModelVersion(commit.modelVersion),
                            freezePoint: FreezePoint(Int(commit.freezePoint)), hyperParameterHash: commit.hyperHash),
                        parameters: commit.headParameters.scalars, hash: commit.headHash.lowercased(),
                        loss: Float(commit.metrics.loss), samples: Int(clamping: commit.metrics.samples))))
            switch reply {
            case .commit(.committed(let version, let hash)):
                return .commitAck(CommitAck(userID: commit.userID, version: version, headHash: hash))
            case .commit(.conflict(let current, let hash)):
                return .commitConflict(
                    CommitConflict(userID: commit.userID, currentVersion: current, currentHash: hash ?? ""))
            default:
                return try refusal(reply, sequence)
            }
        case .baseModelRequest(let ask):
            let reply = try machine.handle(.baseModelRequest(ModelVersion(ask.modelVersion)))
            guard case .baseModel(let version, let record) = reply else { return try refusal(reply, sequence) }
            guard let record else {
                return .baseModelReply(
                    BaseModelReply(
                        modelVersion: version.number, modelHash: "", status: .unknownVersion, checkpoint: nil))
            }
            return .baseModelReply(
                BaseModelReply(
                    modelVersion: version.number, modelHash: record.hash, status: .ok, checkpoint: [UInt8](record.blob)))
        case .sampleCountRequest(let ask):
            let stamps = FeatureStamps(
                modelVersion: ModelVersion(ask.modelVersion), freezePoint: FreezePoint(Int(ask.freezePoint)),
                hyperParameterHash: ask.hyperHash)
            let reply = try machine.handle(.sampleCounts(stamps))
            guard case .sampleCounts(_, let counts) = reply else { return try refusal(reply, sequence) }
            return .sampleCounts(
                SampleCounts(
                    modelVersion: ask.modelVersion, freezePoint: ask.freezePoint, hyperHash: ask.hyperHash,
                    counts: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, UInt64($0.value)) })))
        case .baseModelUpload(let upload):
            let reply = try machine.handle(
                .storeBaseModel(
                    version: ModelVersion(upload.modelVersion), hash: upload.modelHash, checkpoint: upload.checkpoint))
            guard case .baseModelStored(let version, let hash, let alreadyPresent) = reply else {
                return try refusal(reply, sequence)
            }
            return .baseModelStored(
                BaseModelStored(modelVersion: version.number, modelHash: hash, alreadyPresent: alreadyPresent))
        default:
            if let answer = try freezeMoveAnswer(request.message, store: machine.store) { return answer }
            throw InputViolation(.unexpectedKind, "the registry does not handle \(request.message.kind)")
        }
    }

    private static func refusal(_ reply: RegistryReply, _ sequence: UInt64) throws -> ThawMessage {
        if case .rejected(let error) = reply { throw InputViolation(.rejectedByStore, "\(error)") }
        return .errorReply(ErrorReply(code: .internal, message: "unexpected reply \(reply)", inReplyToSequence: sequence))
    }

    static func featureBatch(_ batch: ThawWire.FeatureBatch) -> FeatureBatch {
        let rows = batch.activations.shape.first ?? 0
        let perRow = rows > 0 ? batch.activations.scalars.count / rows : 0
        let rowShape = Array(batch.activations.shape.dropFirst())
        let samples = (0..<min(rows, batch.sampleIDs.count, batch.labels.count)).map { index in
            FeatureSample(
                sampleID: batch.sampleIDs[index], label: Int(batch.labels[index]),
                activations: StoredActivations(
                    shape: rowShape,
                    scalars: Array(batch.activations.scalars[(index * perRow)..<((index + 1) * perRow)])))
        }
        return FeatureBatch(
            user: UserID(batch.userID), device: DeviceID(batch.deviceID), sequence: batch.deviceSeq,
            stamps: FeatureStamps(
                modelVersion: ModelVersion(batch.modelVersion), freezePoint: FreezePoint(Int(batch.freezePoint)),
                hyperParameterHash: batch.hyperHash),
            samples: samples)
    }

    private static func headReply(_ lookup: HeadLookup, query: HeadRequest, durable: [UInt64]) -> HeadReply {
        var reply = HeadReply(
            status: .noHead, userID: query.userID, headVersion: 0, parentVersion: 0, headHash: "",
            modelVersion: query.modelVersion, freezePoint: query.freezePoint, hyperHash: "", durableSeqs: durable,
            headParameters: nil)
        switch lookup {
        case .noHead:
            break
        case .notModified(let version, let hash):
            reply.status = .notModified
            reply.headVersion = version
            reply.headHash = hash
        case .stale(let latest, _):
            reply.status = .staleRequest
            reply.headVersion = latest
        case .head(let record):
            reply.status = .head
            reply.headVersion = record.version
            reply.parentVersion = record.parentVersion
            reply.headHash = record.hash
            reply.modelVersion = record.stamps.modelVersion.number
            reply.freezePoint = UInt32(record.stamps.freezePoint.index)
            reply.hyperHash = record.stamps.hyperParameterHash
            reply.headParameters = WireTensor(flat: record.parameters)
        }
        return reply
    }

    private static func featureSet(user: String, _ rows: [StoredFeature]) -> FeatureSet {
        let rowShape = rows.first?.activations.shape ?? [0]
        var scalars: [Float] = []
        scalars.reserveCapacity(rows.count * rowShape.reduce(1, *))
        for row in rows { scalars += row.activations.scalars }
        return FeatureSet(
            userID: user, sampleIDs: rows.map(\.sampleID), labels: rows.map { UInt32($0.label) },
            activations: WireTensor(shape: [rows.count] + rowShape, scalars: scalars))
    }
}
