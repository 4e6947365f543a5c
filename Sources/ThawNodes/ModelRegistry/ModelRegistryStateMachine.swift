import ThawModel
import ThawNN
import ThawWire

/// The registry's protocol logic as a pure state machine: decoded requests and store results in,
/// replies, store operations and announcements out. No sockets, no SQLite, no clocks.
///
/// It keeps the ``RegistryIndex`` (each user's latest head without parameters, each device's stored
/// batches without activations, loaded once at start) and answers from it whatever needs no blob:
/// not-modified and stale head pulls, "no head", duplicate and conflicting redeliveries, CAS conflicts,
/// forbidden and malformed requests. Everything else becomes a typed ``StoreOperation`` with a ticket;
/// the node runs it on its storage thread (writes grouped into one transaction) and feeds the
/// ``StoreResult`` back through ``stored(ticket:_:)``, which updates the index and produces the reply.
/// Every reply echoes its request's id (`Envelope.sequence`) as `inReplyTo`, so a client may keep
/// several requests in flight on one socket; replies to requests that need the store may arrive in
/// another order than the requests.
struct ModelRegistryStateMachine: Sendable {
    /// Who asked: the ROUTER routing id and the CURVE principal (ZAP User-Id), if any.
    struct Peer: Hashable, Sendable {
        var routingID: [UInt8]
        var userID: String?

        init(routingID: [UInt8], userID: String? = nil) {
            self.routingID = routingID
            self.userID = userID
        }
    }

    /// Work for the node's storage thread. Writes (``isWrite``) are grouped into one transaction.
    /// A ``HeadDelta`` the storage thread computed from the stored head `baseHash` to the latest head.
    struct DeltaOffer: Sendable, Equatable {
        var baseHash: String
        /// The `head_delta` frame, or nil when it could not be made (why: `unavailable`).
        var bytes: [UInt8]?
        var unavailable: String?

        static func made(_ bytes: [UInt8], base: String) -> DeltaOffer {
            DeltaOffer(baseHash: base, bytes: bytes, unavailable: nil)
        }

        static func missing(_ base: String, _ why: String) -> DeltaOffer {
            DeltaOffer(baseHash: base, bytes: nil, unavailable: why)
        }
    }

    enum StoreOperation: Sendable {
        case storeBatch(FeatureBatch, BatchFingerprint)
        /// Verify the head's hash against `contract` (a SHA-256 over megabytes: storage-thread work), then
        /// compare-and-set; on success record `consumed` and prune heads beyond `keepHeads` versions.
        case commitHead(HeadCommit, consumed: [BatchKey], contract: ModelContract, keepHeads: Int?)
        case recordConflict(FeatureBatch, storedUser: UserID, fingerprint: BatchFingerprint, detail: String)
        case recordDeclined(user: UserID, device: DeviceID, hash: String)
        /// Check (decode, hash) and store an uploaded base model.
        case storeBaseModel(version: ModelVersion, hash: String, checkpoint: [UInt8])
        /// A freeze-move request (`BatchRejected`, `FreezeSyncRequest`), answered by the store.
        case freezeMove(ThawMessage)
        /// The user's latest head; with `deltaBase`, also a ``HeadDelta`` from the stored head of that hash
        /// to the latest one (when the store still holds it under the same stamps).
        case readHead(UserID, deltaBase: String?)
        case readFeatures(FeatureQuery)
        case readBaseModel(ModelVersion)
        case sampleCounts(FeatureStamps)

        var isWrite: Bool {
            switch self {
            case .storeBatch, .commitHead, .recordConflict, .recordDeclined, .storeBaseModel, .freezeMove: true
            case .readHead, .readFeatures, .readBaseModel, .sampleCounts: false
            }
        }
    }

    /// What a ``StoreOperation`` came back with.
    enum StoreResult: Sendable {
        case batch(BatchWrite)
        case commit(CommitOutcome, RegistryIndex.Head?, pruned: Int)
        case recorded
        case baseModelStored(ModelVersion, hash: String, alreadyPresent: Bool, contract: ModelContract)
        case freezeMove(ThawMessage?)
        /// The latest head and, when asked for and possible, the delta to it (``DeltaOffer``).
        case head(HeadRecord?, delta: DeltaOffer?)
        case features([StoredFeature])
        case baseModel(ModelVersion, BaseModelRecord?)
        case sampleCounts([UserID: Int])
        /// The operation was refused for what the peer sent (nothing was written).
        case refused(InputViolation)
        /// The database failed (disk, file); nothing was written.
        case failed(String)
    }

    /// What the registry counts (swift-metrics counters, declared by the node with these labels).
    enum Metric: String, Sendable, CaseIterable {
        case batchesStored = "batches_stored"
        case samplesStored = "samples_stored"
        case duplicates
        case batchConflicts = "batch_conflicts"
        case headsServed = "heads_served"
        case notModified = "not_modified"
        case staleHeadReads = "stale_head_reads"
        case noHead = "no_head"
        case commits
        case conflicts
        case headsAnnounced = "heads_announced"
        case headsPruned = "heads_pruned"
        case headsDeclined = "heads_declined"
        /// Pulls answered with a HEAD_DELTA instead of the full head.
        case headDeltasServed = "head_deltas_served"
        /// Bytes of the `head_delta` frames sent, and of the full heads they stood in for.
        case headDeltaBytes = "head_delta_bytes"
        case headDeltaFullBytes = "head_delta_full_bytes"
        /// Pulls that asked for a delta and got the full head: the base is no longer stored (pruned,
        /// never committed here), has other stamps, or the delta would not be smaller.
        case headDeltaFallbacks = "head_delta_fallbacks"
        case featuresServed = "features_served"
        case storeFailures = "store_failures"
    }

    enum Action: Sendable {
        /// Send `message` to `peer`, as the reply to its request `inReplyTo`; `refusal` when it is an
        /// `ErrorReply` for something the peer sent (the node counts it in `InputRefusals`).
        case reply(Peer, inReplyTo: UInt64, ThawMessage, refusal: InputViolation?)
        case store(ticket: UInt64, StoreOperation)
        /// Publish on the `heads` topic.
        case announce(HeadAnnounce)
        case count(Metric, by: Int)
        /// A database failure to log (not the peer's fault).
        case logFailure(String)
    }

    struct Configuration: Sendable {
        /// Superseded heads kept per user besides the latest; nil keeps every version.
        var keepHeads: Int?
        /// Refuses CURVE principals that may not make a request (nil: no CURVE).
        var access: AccessPolicy?

        init(keepHeads: Int? = nil, access: AccessPolicy? = nil) {
            self.keepHeads = keepHeads
            self.access = access
        }
    }

    /// What a pending ticket will answer.
    enum Pending: Sendable {
        case batch(Peer, UInt64, FeatureBatch, BatchFingerprint)
        case commit(Peer, UInt64, HeadCommit, [BatchKey])
        case head(Peer, UInt64, HeadRequest)
        case features(Peer, UInt64, String)
        case baseModel(Peer, UInt64)
        case baseModelUpload(Peer, UInt64)
        case sampleCounts(Peer, UInt64, SampleCountRequest)
        case freezeMove(Peer, UInt64, ThawMessage.Kind)
        /// Nobody waits (a recorded conflict or declined head).
        case silent
    }

    private(set) var index: RegistryIndex
    /// The model contract of each registered base model version.
    private(set) var contracts: [ModelVersion: ModelContract]
    let configuration: Configuration
    private(set) var pending: [UInt64: Pending] = [:]
    private var nextTicket: UInt64 = 1
    /// After ``stopAccepting()`` new requests are refused as unavailable; pending ones still complete.
    private(set) var accepting = true

    init(index: RegistryIndex, contracts: [ModelVersion: ModelContract], configuration: Configuration = .init()) {
        self.index = index
        self.contracts = contracts
        self.configuration = configuration
    }

    /// Store operations ordered and not yet answered.
    var pendingCount: Int { pending.count }

    mutating func stopAccepting() { accepting = false }

    /// Takes in what another registry on the same database committed (a fresh ``RegistryIndex`` read
    /// from it): a newer head replaces the known one, unknown batches are added, and known batches learn
    /// the stamps they were consumed under. Nothing is ever taken back (a read older than this machine's
    /// own latest results changes nothing), so merging is safe at any time.
    mutating func merge(_ fresh: RegistryIndex) {
        for (user, head) in fresh.heads where head.version > (index.heads[user]?.version ?? 0) {
            index.heads[user] = head
        }
        for (device, batches) in fresh.batches {
            for (sequence, batch) in batches {
                if var known = index.batches[device]?[sequence] {
                    known.consumedUnder.formUnion(batch.consumedUnder)
                    index.batches[device]?[sequence] = known
                } else {
                    index.batches[device, default: [:]][sequence] = batch
                }
            }
        }
    }

    // MARK: - Requests

    /// Handles one decoded request from `peer`.
    mutating func receive(_ request: DecodedMessage, from peer: Peer) -> [Action] {
        let id = request.metadata.sequence
        guard accepting else {
            return [
                .reply(
                    peer, inReplyTo: id,
                    .errorReply(
                        ErrorReply(code: .unavailable, message: "the registry is shutting down", inReplyToSequence: id)),
                    refusal: nil)
            ]
        }
        if let refusal = configuration.access?.checkRegistry(request.message, from: peer.userID) {
            return refuse(peer, id, InputViolation(.forbidden, "forbidden: \(refusal)"), code: .forbidden)
        }
        do {
            return try answer(request.message, id: id, peer: peer)
        } catch let violation as InputViolation {
            let code: ErrorReply.Code = violation.reason == .unexpectedKind ? .unsupported : .malformed
            return refuse(peer, id, violation, code: code)
        } catch let error as RegistryError {
            return refuse(peer, id, InputViolation(.rejectedByStore, "\(error)"), code: .malformed)
        } catch {
            return refuse(peer, id, InputViolation(.rejectedByStore, "\(error)"), code: .malformed)
        }
    }

    /// An `ErrorReply` for a request whose frames did not decode; `id` is the request's sequence when its
    /// header could be read (0 otherwise).
    static func malformed(_ peer: Peer, id: UInt64, _ error: any Error) -> Action {
        .reply(
            peer, inReplyTo: id, .errorReply(ErrorReply(code: .malformed, message: "\(error)", inReplyToSequence: id)),
            refusal: nil)
    }

    private func refuse(_ peer: Peer, _ id: UInt64, _ violation: InputViolation, code: ErrorReply.Code) -> [Action] {
        [
            .reply(
                peer, inReplyTo: id,
                .errorReply(ErrorReply(code: code, message: "\(violation)", inReplyToSequence: id)),
                refusal: violation)
        ]
    }

    private mutating func order(_ operation: StoreOperation, _ pending: Pending) -> Action {
        let ticket = nextTicket
        nextTicket += 1
        self.pending[ticket] = pending
        return .store(ticket: ticket, operation)
    }

    private func contract(_ version: UInt64) throws -> ModelContract {
        guard let contract = contracts[ModelVersion(version)] else {
            throw InputViolation(.unknownModel, "the registry has no base model v\(version)")
        }
        return contract
    }

    private mutating func answer(_ message: ThawMessage, id: UInt64, peer: Peer) throws -> [Action] {
        switch message {
        case .featureBatch(let wire):
            try contract(wire.modelVersion).checkBatch(
                shape: wire.activations.shape, labels: wire.labels, freezePoint: wire.freezePoint,
                what: "feature batch \(wire.deviceID)#\(wire.deviceSeq)")
            let batch = RegistryWireAdapter.featureBatch(wire)
            try batch.validate()
            let fingerprint = BatchFingerprint(batch)
            if let stored = index.batch(batch.device, batch.sequence) {
                if let conflict = Self.redeliveryConflict(stored: stored, offered: batch, fingerprint: fingerprint) {
                    let record = order(
                        .recordConflict(batch, storedUser: stored.user, fingerprint: fingerprint, detail: conflict),
                        .silent)
                    return [record, .count(.batchConflicts, by: 1)]
                        + refuse(peer, id, InputViolation(.batchConflict, conflict), code: .malformed)
                }
                return [
                    .count(.duplicates, by: 1),
                    .reply(
                        peer, inReplyTo: id,
                        .featureStored(
                            FeatureStored(
                                deviceID: wire.deviceID, deviceSeq: wire.deviceSeq, duplicate: index.isTrained(stored))),
                        refusal: nil),
                ]
            }
            return [order(.storeBatch(batch, fingerprint), .batch(peer, id, batch, fingerprint))]

        case .headRequest(let query):
            var actions: [Action] = []
            if !query.declinedHash.isEmpty {
                actions.append(.count(.headsDeclined, by: 1))
                actions.append(
                    order(
                        .recordDeclined(
                            user: UserID(query.userID), device: DeviceID(query.deviceID),
                            hash: query.declinedHash.lowercased()), .silent))
            }
            let user = UserID(query.userID)
            guard let head = index.heads[user], head.stamps.modelVersion.number == query.modelVersion,
                head.stamps.freezePoint.index == Int(query.freezePoint), head.hash != query.haveHash
            else {
                return actions + headReplyFromIndex(query, peer: peer, id: id)
            }
            // A requester that can apply a delta and names the head it runs gets one when the store still
            // holds that head (decided in ``stored(ticket:_:)`` from what the storage thread found).
            let base = query.acceptDelta && !query.haveHash.isEmpty ? query.haveHash.lowercased() : nil
            return actions + [order(.readHead(user, deltaBase: base), .head(peer, id, query))]

        case .featureFetch(let fetch):
            guard fetch.afterRow <= UInt64(Int64.max) else {
                throw InputViolation(.rejectedByStore, "after_row \(fetch.afterRow) exceeds Int64.max")
            }
            let query = FeatureQuery(
                user: UserID(fetch.userID),
                stamps: FeatureStamps(
                    modelVersion: ModelVersion(fetch.modelVersion), freezePoint: FreezePoint(Int(fetch.freezePoint)),
                    hyperParameterHash: fetch.hyperHash),
                after: Int64(fetch.afterRow), limit: Int(max(fetch.maxSamples, 1)),
                withoutActivations: fetch.withoutActivations)
            return [order(.readFeatures(query), .features(peer, id, fetch.userID))]

        case .headCommit(let wire):
            let contract = try contract(wire.modelVersion)
            try contract.checkHead(
                count: wire.headParameters.scalars.count, freezePoint: wire.freezePoint,
                what: "head commit for \(wire.userID)")
            let commit = HeadCommit(
                user: UserID(wire.userID), parentVersion: wire.parentVersion,
                stamps: FeatureStamps(
                    modelVersion: ModelVersion(wire.modelVersion), freezePoint: FreezePoint(Int(wire.freezePoint)),
                    hyperParameterHash: wire.hyperHash),
                parameters: wire.headParameters.scalars, hash: wire.headHash.lowercased(),
                loss: Float(wire.metrics.loss), samples: Int(clamping: wire.metrics.samples))
            try commit.validate()
            // The index is a lower bound of the database (versions only grow, and another registry on a
            // shared database may have committed newer ones): a parent below it is a conflict for sure;
            // a parent at or above it is the database's to decide.
            let current = index.heads[commit.user]
            guard (current?.version ?? 0) <= commit.parentVersion else {
                return [
                    .count(.conflicts, by: 1),
                    .reply(
                        peer, inReplyTo: id,
                        .commitConflict(
                            CommitConflict(
                                userID: wire.userID, currentVersion: current?.version ?? 0,
                                currentHash: current?.hash ?? "")),
                        refusal: nil),
                ]
            }
            let consumed = wire.consumed.map { BatchKey(device: DeviceID($0.deviceID), sequence: $0.deviceSeq) }
            return [
                order(
                    .commitHead(commit, consumed: consumed, contract: contract, keepHeads: configuration.keepHeads),
                    .commit(peer, id, commit, consumed))
            ]

        case .baseModelRequest(let ask):
            // 0 asks for the newest registered version.
            let version =
                ask.modelVersion == 0 ? (contracts.keys.max() ?? ModelVersion(0)) : ModelVersion(ask.modelVersion)
            return [order(.readBaseModel(version), .baseModel(peer, id))]

        case .baseModelUpload(let upload):
            return [
                order(
                    .storeBaseModel(
                        version: ModelVersion(upload.modelVersion), hash: upload.modelHash,
                        checkpoint: upload.checkpoint),
                    .baseModelUpload(peer, id))
            ]

        case .sampleCountRequest(let ask):
            let stamps = FeatureStamps(
                modelVersion: ModelVersion(ask.modelVersion), freezePoint: FreezePoint(Int(ask.freezePoint)),
                hyperParameterHash: ask.hyperHash)
            return [order(.sampleCounts(stamps), .sampleCounts(peer, id, ask))]

        case .batchRejected, .freezeSyncRequest:
            return [order(.freezeMove(message), .freezeMove(peer, id, message.kind))]

        default:
            throw InputViolation(.unexpectedKind, "the registry does not handle \(message.kind)")
        }
    }

    /// Why `offered` may not be taken for the batch `stored` under the same `(device, seq)`, or nil when
    /// it is a redelivery of it (issue #12, bug 2).
    static func redeliveryConflict(
        stored: RegistryIndex.Batch, offered: FeatureBatch, fingerprint: BatchFingerprint
    ) -> String? {
        let key = "\(offered.device)#\(offered.sequence)"
        guard stored.user == offered.user else {
            return "\(key) holds a batch of user \(stored.user), not \(offered.user)"
        }
        if let known = stored.fingerprint {
            guard known.identity == fingerprint.identity else {
                return
                    "\(key) holds other sample ids or labels (identity \(known.identity.prefix(12)), offered \(fingerprint.identity.prefix(12)))"
            }
            if stored.stamps == offered.stamps, known.content != fingerprint.content {
                return
                    "\(key) holds other activations under the same stamps (content \(known.content.prefix(12)), offered \(fingerprint.content.prefix(12)))"
            }
        } else if stored.samples != offered.samples.count {
            return "\(key) holds \(stored.samples) samples, offered \(offered.samples.count)"
        }
        return nil
    }

    /// A `HeadReply` decided from the index: no head, stale, or not modified.
    private func headReplyFromIndex(_ query: HeadRequest, peer: Peer, id: UInt64) -> [Action] {
        var reply = HeadReply(
            status: .noHead, userID: query.userID, headVersion: 0, parentVersion: 0, headHash: "",
            modelVersion: query.modelVersion, freezePoint: query.freezePoint, hyperHash: "",
            durableSeqs: durable(query), headParameters: nil)
        let metric: Metric
        if let head = index.heads[UserID(query.userID)] {
            reply.headVersion = head.version
            if head.stamps.modelVersion.number != query.modelVersion
                || head.stamps.freezePoint.index != Int(query.freezePoint)
            {
                reply.status = .staleRequest
                metric = .staleHeadReads
            } else {
                reply.status = .notModified
                reply.parentVersion = head.parentVersion
                reply.headHash = head.hash
                reply.hyperHash = head.stamps.hyperParameterHash
                metric = .notModified
            }
        } else {
            metric = .noHead
        }
        return [.count(metric, by: 1), .reply(peer, inReplyTo: id, .headReply(reply), refusal: nil)]
    }

    /// Full head or delta, for a pull whose latest head is `fullBytes` of parameters.
    enum DeltaChoice: Equatable {
        /// The full head; `fellBack`: a delta was asked for but is not possible or not smaller.
        case full(fellBack: Bool)
        case delta([UInt8], base: String)
    }

    /// The registry's rule: a delta only to a requester that accepts one, against exactly the head it
    /// names, and only when it is smaller than the full head's parameters; the full head otherwise.
    static func deltaChoice(_ offer: DeltaOffer?, query: HeadRequest, fullBytes: Int) -> DeltaChoice {
        guard query.acceptDelta, !query.haveHash.isEmpty else { return .full(fellBack: false) }
        guard let offer, offer.baseHash == query.haveHash.lowercased(), let bytes = offer.bytes,
            bytes.count < fullBytes
        else { return .full(fellBack: true) }
        return .delta(bytes, base: offer.baseHash)
    }

    private func durable(_ query: HeadRequest) -> [UInt64] {
        guard !query.deviceID.isEmpty else { return [] }
        return index.acknowledged(
            device: DeviceID(query.deviceID), user: UserID(query.userID),
            modelVersion: ModelVersion(query.modelVersion),
            freezePoint: FreezePoint(Int(query.freezePoint)))
    }

    // MARK: - Store results

    /// Applies the result of store operation `ticket` and answers its request. A result for a ticket
    /// that is not pending (never ordered, or answered already) changes nothing.
    mutating func stored(ticket: UInt64, _ result: StoreResult) -> [Action] {
        guard let waiting = pending.removeValue(forKey: ticket) else { return [] }
        switch (waiting, result) {
        case (_, .failed(let detail)):
            var actions: [Action] = [.count(.storeFailures, by: 1), .logFailure(detail)]
            if let (peer, id) = waiting.requester {
                actions.append(
                    .reply(
                        peer, inReplyTo: id,
                        .errorReply(ErrorReply(code: .internal, message: detail, inReplyToSequence: id)), refusal: nil))
            }
            return actions
        case (_, .refused(let violation)):
            guard let (peer, id) = waiting.requester else { return [] }
            return refuse(peer, id, violation, code: .malformed)

        case (.batch(let peer, let id, let batch, let fingerprint), .batch(let write)):
            switch write {
            case .stored(let samples, let lastRow, let rowIDs):
                index.batches[batch.device, default: [:]][batch.sequence] = RegistryIndex.Batch(
                    user: batch.user, stamps: batch.stamps, samples: samples, lastRow: lastRow, fingerprint: fingerprint
                )
                return [
                    .count(.batchesStored, by: 1), .count(.samplesStored, by: samples),
                    .reply(
                        peer, inReplyTo: id,
                        .featureStored(
                            FeatureStored(
                                deviceID: batch.device.rawValue, deviceSeq: batch.sequence, duplicate: false,
                                rowIDs: rowIDs.map { UInt64(clamping: $0) })),
                        refusal: nil),
                ]
            case .duplicate:
                let trained = index.batch(batch.device, batch.sequence).map(index.isTrained) ?? false
                return [
                    .count(.duplicates, by: 1),
                    .reply(
                        peer, inReplyTo: id,
                        .featureStored(
                            FeatureStored(
                                deviceID: batch.device.rawValue, deviceSeq: batch.sequence, duplicate: trained)),
                        refusal: nil),
                ]
            case .conflict(let detail):
                return [.count(.batchConflicts, by: 1)]
                    + refuse(peer, id, InputViolation(.batchConflict, detail), code: .malformed)
            }

        case (.commit(let peer, let id, let commit, let consumed), .commit(let outcome, let head, let pruned)):
            switch outcome {
            case .committed(let version, let hash):
                var actions: [Action] = [.count(.commits, by: 1)]
                if pruned > 0 { actions.append(.count(.headsPruned, by: pruned)) }
                if let head, head.version > (index.heads[commit.user]?.version ?? 0) {
                    index.heads[commit.user] = head
                }
                markConsumed(consumed, user: commit.user, stamps: commit.stamps)
                actions.append(
                    .reply(
                        peer, inReplyTo: id,
                        .commitAck(CommitAck(userID: commit.user.rawValue, version: version, headHash: hash)),
                        refusal: nil))
                actions.append(.count(.headsAnnounced, by: 1))
                actions.append(
                    .announce(
                        HeadAnnounce(
                            userID: commit.user.rawValue, headVersion: version, headHash: hash,
                            modelVersion: commit.stamps.modelVersion.number,
                            freezePoint: UInt32(commit.stamps.freezePoint.index),
                            hyperHash: commit.stamps.hyperParameterHash)))
                return actions
            case .conflict(let current, let hash):
                return [
                    .count(.conflicts, by: 1),
                    .reply(
                        peer, inReplyTo: id,
                        .commitConflict(
                            CommitConflict(
                                userID: commit.user.rawValue, currentVersion: current, currentHash: hash ?? "")),
                        refusal: nil),
                ]
            }

        case (.head(let peer, let id, let query), .head(let record, let delta)):
            guard let record, record.stamps.modelVersion.number == query.modelVersion,
                record.stamps.freezePoint.index == Int(query.freezePoint), record.hash != query.haveHash
            else {
                return headReplyFromIndex(query, peer: peer, id: id)
            }
            var reply = HeadReply(
                status: .head, userID: query.userID, headVersion: record.version, parentVersion: record.parentVersion,
                headHash: record.hash, modelVersion: record.stamps.modelVersion.number,
                freezePoint: UInt32(record.stamps.freezePoint.index), hyperHash: record.stamps.hyperParameterHash,
                durableSeqs: durable(query), headParameters: WireTensor(flat: record.parameters))
            var actions: [Action] = [.count(.headsServed, by: 1)]
            switch Self.deltaChoice(delta, query: query, fullBytes: 4 * record.parameters.count) {
            case .full(let fellBack):
                if fellBack { actions.append(.count(.headDeltaFallbacks, by: 1)) }
            case .delta(let bytes, let base):
                reply.status = .headDelta
                reply.headParameters = nil
                reply.headDelta = bytes
                reply.deltaBaseHash = base
                actions += [
                    .count(.headDeltasServed, by: 1), .count(.headDeltaBytes, by: bytes.count),
                    .count(.headDeltaFullBytes, by: 4 * record.parameters.count),
                ]
            }
            return actions + [.reply(peer, inReplyTo: id, .headReply(reply), refusal: nil)]

        case (.features(let peer, let id, let user), .features(let rows)):
            // A listing (rows read without activations) answers with activations [0].
            let listing = rows.first.map { $0.activations.shape.isEmpty } ?? false
            let rowShape = rows.first?.activations.shape ?? [0]
            var scalars: [Float] = []
            scalars.reserveCapacity(rows.count * rowShape.reduce(1, *))
            for row in rows { scalars += row.activations.scalars }
            let set = FeatureSet(
                userID: user, sampleIDs: rows.map(\.sampleID), labels: rows.map { UInt32($0.label) },
                activations: listing ? WireTensor(shape: [0], scalars: []) : WireTensor(shape: [rows.count] + rowShape, scalars: scalars),
                rowIDs: rows.map { UInt64($0.id) })
            return [
                .count(.featuresServed, by: rows.count), .reply(peer, inReplyTo: id, .featureSet(set), refusal: nil),
            ]

        case (.baseModel(let peer, let id), .baseModel(let version, let record)):
            let reply =
                record.map {
                    BaseModelReply(
                        modelVersion: version.number, modelHash: $0.hash, status: .ok, checkpoint: [UInt8]($0.blob))
                }
                ?? BaseModelReply(modelVersion: version.number, modelHash: "", status: .unknownVersion, checkpoint: nil)
            return [.reply(peer, inReplyTo: id, .baseModelReply(reply), refusal: nil)]

        case (
            .baseModelUpload(let peer, let id),
            .baseModelStored(let version, let hash, let alreadyPresent, let contract)
        ):
            contracts[version] = contract
            return [
                .reply(
                    peer, inReplyTo: id,
                    .baseModelStored(
                        BaseModelStored(modelVersion: version.number, modelHash: hash, alreadyPresent: alreadyPresent)),
                    refusal: nil)
            ]

        case (.sampleCounts(let peer, let id, let ask), .sampleCounts(let counts)):
            return [
                .reply(
                    peer, inReplyTo: id,
                    .sampleCounts(
                        SampleCounts(
                            modelVersion: ask.modelVersion, freezePoint: ask.freezePoint, hyperHash: ask.hyperHash,
                            counts: Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, UInt64($0.value)) })
                        )),
                    refusal: nil)
            ]

        case (.freezeMove(let peer, let id, let kind), .freezeMove(let answer)):
            guard let answer else {
                return refuse(
                    peer, id, InputViolation(.unexpectedKind, "the registry does not handle this \(kind)"),
                    code: .unsupported)
            }
            return [.reply(peer, inReplyTo: id, answer, refusal: nil)]

        case (.silent, _):
            return []

        default:
            guard let (peer, id) = waiting.requester else { return [] }
            return [
                .logFailure("store result \(result) does not answer \(waiting)"),
                .reply(
                    peer, inReplyTo: id,
                    .errorReply(ErrorReply(code: .internal, message: "unexpected store result", inReplyToSequence: id)),
                    refusal: nil),
            ]
        }
    }

    /// Records that a head committed under `stamps` with `consumed` covers those batches.
    mutating func markConsumed(_ consumed: [BatchKey], user: UserID, stamps: FeatureStamps) {
        for key in consumed where index.batches[key.device]?[key.sequence]?.user == user {
            index.batches[key.device]?[key.sequence]?.consumedUnder.insert(stamps)
        }
    }
}

extension ModelRegistryStateMachine.Pending {
    var requester: (ModelRegistryStateMachine.Peer, UInt64)? {
        switch self {
        case .batch(let peer, let id, _, _), .commit(let peer, let id, _, _), .head(let peer, let id, _),
            .features(let peer, let id, _), .baseModel(let peer, let id), .baseModelUpload(let peer, let id),
            .sampleCounts(let peer, let id, _), .freezeMove(let peer, let id, _):
            (peer, id)
        case .silent: nil
        }
    }
}

extension InputViolation.Reason {
    /// A batch offered under a `(device, seq)` that holds another batch (issue #12, bug 2).
    public static let batchConflict = InputViolation.Reason(rawValue: "batchConflict")
}
