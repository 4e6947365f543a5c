import Logging
import ThawNN
import ThawWire

/// A delivery the worker node holds (a batch read from its PULL socket) until the machine releases it.
typealias DeliveryToken = UInt64

/// What a trainer worker decides, with no sockets, no SQLite, no BLAS and no clock inside: events in
/// (a batch read, a broadcast, a registry reply matched by request id, a finished training job, a
/// tick with the time), actions out (send a request with an id, load the base model, advance a stale
/// batch, train, release a delivery, count).
///
/// Per user the pipeline is:
/// 1. every arriving batch is fenced (``StaleBatchFence``), checked against the model and **stored at
///    once** (several stores may be in flight);
/// 2. stored batches that are not yet in a head wait in the user's `pending` list; when the user has no
///    round in progress, **all** of them become the next round (coalescing: a burst of N batches costs
///    about one training, not N);
/// 3. a round asks for the head only when the worker's cached head is not known to be current
///    (`have_hash` makes an unchanged head a small not-modified reply), fetches only the rows it lacks
///    (`after_row`) and only when someone else committed since it last synchronised;
/// 4. it trains on the round's new rows plus a bounded, seeded replay of older rows (``Configuration/replaySamples``)
///    starting from the current head, so the cost of a round does not grow with the user's history;
/// 5. it commits with compare-and-set and names the round's batches in `consumed`; on a conflict it
///    drops its cached head, refetches and retrains (at most ``Configuration/commitAttempts`` times).
///
/// A batch's delivery is released only when its fate is settled: in a committed head, a duplicate the
/// registry already has in a head, rejected, or left for the device to re-send (a timeout, a failure).
/// The worker acknowledges nothing to the device itself: the device learns from the registry which
/// batches are in a committed head, so a batch that is dropped here is re-sent, never lost.
struct TrainerWorkerStateMachine {
    struct Configuration: Sendable {
        /// Commit attempts per round before its batches are left for the device to re-send.
        var commitAttempts = 4
        /// Rows fetched for a full retrain (a retrain request after a freeze move).
        var maxSamplesPerUser = 4096
        /// Older rows replayed with the new ones in each round (seeded sample of the user's pool): at most
        /// `replayFraction` × the round's new rows and at most `replaySamples`.
        var replaySamples = 256
        var replayFraction = 0.5
        /// Older rows kept per user to replay from (a seeded reservoir sample of everything seen).
        var historyRows = 1024
        /// Rows asked for per incremental fetch.
        var fetchPage = 1024
        /// A registry request without a reply after this long is given up.
        var requestTimeout: Duration = .seconds(10)
        /// Training jobs running at once (one per BLAS thread budget).
        var trainingSlots = 1
        /// Train a round's rows from the batches this worker stored itself (their row ids come back in
        /// `FeatureStored`), fetching only a listing of the rows; off: fetch every row's values.
        var reuseStoredRows = true

        init() {}
    }

    enum Event: Sendable {
        case deployment(DeploymentState)
        case batch(DeliveryToken, ThawWire.FeatureBatch)
        case retrain(RetrainRequest)
        /// A message read from the registry DEALER with its envelope's `in_reply_to` (0 when unset).
        case reply(ThawMessage, inReplyTo: UInt64)
        case modelLoaded(ModelVersion, ModelContract)
        case modelFailed(ModelVersion, String)
        case advanced(DeliveryToken, ThawWire.FeatureBatch)
        case advanceRefused(DeliveryToken, ThawWire.FeatureBatch, String)
        case trained(job: UInt64, TrainingResult)
        case trainingFailed(job: UInt64, String)
        case tick
        /// Stop taking new work; rounds in flight finish or time out.
        case shutdown
    }

    enum Action: Sendable, Equatable {
        /// Send `message` to the registry with envelope sequence `id` (the reply's `in_reply_to`).
        case send(id: UInt64, ThawMessage)
        /// Build base model `version` from checkpoint bytes (off the event handler) and report back.
        case loadModel(ModelVersion, checkpoint: [UInt8])
        /// Run layers `[from, to)` over a stale batch (off the event handler) and report back.
        case advance(DeliveryToken, ThawWire.FeatureBatch, from: FreezePoint, to: FreezePoint)
        case train(TrainingJob)
        case release(DeliveryToken)
        case count(WorkerCount, Int)
        case refuse(socket: String, reason: String, detail: String)
        case log(Logger.Level, String, [String: String])
    }

    /// Counted things (the node keeps one swift-metrics counter each, named by the raw value).
    enum WorkerCount: String, Sendable, CaseIterable {
        case batches, samples, duplicates, stored, commits, conflicts, rounds
        case coalescedBatches = "coalesced_batches"
        case trainedSamples = "trained_samples"
        case replayedSamples = "replayed_samples"
        case rejectedStale = "rejected_stale"
        case advancedStale = "advanced_stale"
        case rejectionsReturned = "rejections_returned"
        case retrains, failures, timeouts
        case headsNotModified = "heads_not_modified"
        case headsSkipped = "heads_skipped"
        case rowsFetched = "rows_fetched"
        /// Rows trained from this worker's own copy of a batch it stored (not fetched back).
        case rowsReused = "rows_reused"
        /// Listings that named a row this worker does not hold, answered by a fetch with values.
        case listingMisses = "listing_misses"
    }

    /// One training round's work for the node's training thread.
    struct TrainingJob: Sendable, Equatable {
        var id: UInt64
        var user: String
        var modelVersion: ModelVersion
        var freezePoint: FreezePoint
        /// The head to start from; nil: the base model's own head.
        var start: [Float]?
        /// Per-sample activation shape at `freezePoint`.
        var sampleShape: [Int]
        /// `labels.count` samples, new rows first, then replayed ones.
        var activations: [Float]
        var labels: [Int]
        var newSamples: Int
        var seed: UInt64
    }

    struct TrainingResult: Sendable, Equatable {
        var parameters: [Float]
        var headHash: String
        var loss: Float
        var steps: Int
    }

    // MARK: State

    struct PendingBatch: Sendable {
        var token: DeliveryToken
        var batch: ThawWire.FeatureBatch
        /// The registry row id of each sample once stored (`FeatureStored.row_ids`); empty when unknown.
        var rowIDs: [UInt64] = []
        var ref: BatchRef { BatchRef(deviceID: batch.deviceID, deviceSeq: batch.deviceSeq) }
    }

    /// The head a round starts from and commits on top of.
    struct CachedHead: Sendable, Equatable {
        var stamps: FeatureStamps
        var version: UInt64
        var hash: String
        /// nil: train from the base model's head (no head yet, or the registry's is from other stamps).
        var parameters: [Float]?
    }

    struct Row: Sendable {
        var sampleID: UInt64
        var label: Int
        var activation: ArraySlice<Float>
    }

    enum Phase: Sendable, Equatable {
        case head(UInt64), queued, fetch(UInt64), waitingForSlot, training(UInt64), committing(UInt64)
    }

    struct Round: Sendable {
        var batches: [PendingBatch]
        var stamps: FeatureStamps
        /// Train on every stored row from the first (a retrain request, or no known coverage), not on
        /// the rows after the coverage plus replay.
        var full: Bool
        var attempts = 0
        var phase: Phase
        /// The fetch's `after_row` and `max_samples`, and whether it asked for a listing (no values).
        var askedAfter: UInt64 = 0
        var pageSize: UInt32 = 0
        var askedListing = false
        var fresh: [Row] = []
        /// Coverage (rows, last row id) once the fetched rows are trained.
        var coverage: Coverage? = nil
        var result: TrainingResult? = nil
        var replayed = 0
    }

    /// The first `rows` stored rows of a user under `stamps`, in registry id order, ending at row id
    /// `lastRow` (0 when the registry reports no row ids), are in the user's latest head.
    ///
    /// The registry acknowledges a batch to its device when the latest head's `samples` covers the
    /// batch's rows in id order (docs/REGISTRY.md), so a head's `samples` must never claim a row that is
    /// not in it. Heads are a linear history under compare-and-set, so once this worker committed a head
    /// covering `rows`, every later head of the user (whoever committed it) covers them too: after a
    /// conflict the worker trains the newer head on the rows after its coverage (some of which the other
    /// worker may have trained already; training them twice is harmless) and claims the union.
    struct Coverage: Sendable, Equatable {
        var stamps: FeatureStamps
        var rows: Int
        var lastRow: UInt64
    }

    struct UserState: Sendable {
        var pending: [PendingBatch] = []
        var round: Round?
        var head: CachedHead?
        var coverage: Coverage?
        /// A seeded reservoir of older rows to replay (rows of the coverage), all under `historyStamps`.
        var history: [Row] = []
        /// The stamps of every row in `history`: rows of one freeze point have one width, and a round
        /// replays only rows of its own stamps (a round that was in flight across a deployment change
        /// commits rows of the old stamps after the history was cleared for the new ones).
        var historyStamps: FeatureStamps?
        var seen = 0
        var retrainWanted = false
        /// Another worker committed this user's head lately (a conflict, or a head request found a newer
        /// head): ask for the head (a small not-modified reply when it is unchanged) before training,
        /// rather than train and lose the compare-and-set.
        var contended = false
    }

    enum Request: Sendable {
        case store(DeliveryToken, PendingBatch)
        case head(user: String)
        case fetch(user: String)
        case commit(user: String)
        case rejection(BatchRef)
        case baseModel(ModelVersion)
    }

    enum ModelState: Sendable {
        case loading(ModelVersion, request: UInt64?)
        case loaded(ModelVersion, ModelContract)
    }

    let configuration: Configuration
    private(set) var deployment: DeploymentState?
    private(set) var model: ModelState?
    private(set) var users: [String: UserState] = [:]
    private(set) var outstanding: [UInt64: (request: Request, sentAt: Timestamp)] = [:]
    /// Batches waiting for the base model before they can be checked (or advanced).
    private(set) var waitingForModel: [PendingBatch] = []
    /// Batches being stored, by reference: a resend that arrives meanwhile is not stored twice.
    private var inFlight: Set<BatchRef> = []
    private var slotQueue: [String] = []
    /// Users whose round knows its head and waits to fetch its rows (``queueFetch(_:now:)``).
    private var fetchQueue: [String] = []
    private var running: [UInt64: String] = [:]
    private var nextID: UInt64 = 0
    private(set) var draining = false
    private(set) var counts: [WorkerCount: Int] = [:]
    private var actions: [Action] = []

    init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Nothing in flight: no request outstanding, no round, no training job, no batch held.
    var isIdle: Bool {
        outstanding.isEmpty && running.isEmpty && waitingForModel.isEmpty
            && users.values.allSatisfy { $0.round == nil && $0.pending.isEmpty }
    }

    func count(_ what: WorkerCount) -> Int { counts[what] ?? 0 }

    // MARK: Events

    mutating func handle(_ event: Event, now: Timestamp) -> [Action] {
        actions = []
        switch event {
        case .deployment(let state): observe(state)
        case .batch(let token, let batch): receive(token, batch, now: now)
        case .retrain(let request): retrain(request, now: now)
        case .reply(let message, let inReplyTo): reply(message, inReplyTo: inReplyTo, now: now)
        case .modelLoaded(let version, let contract): modelLoaded(version, contract, now: now)
        case .modelFailed(let version, let why): modelFailed(version, why)
        case .advanced(let token, let batch):
            bump(.advancedStale)
            log(.info, "advanced a stale batch instead of rejecting it", batch)
            store(PendingBatch(token: token, batch: batch), now: now)
        case .advanceRefused(let token, let batch, let why):
            inFlight.remove(BatchRef(deviceID: batch.deviceID, deviceSeq: batch.deviceSeq))
            bump(.rejectedStale)
            log(.warning, "refused a stale batch whose activations do not fit the model", batch, ["error": why])
            returnRejection(batch, reason: .invalid, now: now)
            release(token, batch)
        case .trained(let job, let result): trained(job, result, now: now)
        case .trainingFailed(let job, let why):
            if let user = running.removeValue(forKey: job) {
                failRound(user, why)
                startRound(user, now: now)
            }
        case .tick: expire(now: now)
        case .shutdown: draining = true
        }
        // Whatever the event freed (a slot taken, a fetch answered or abandoned), the next queued fetch goes.
        pumpFetches(now: now)
        return actions
    }

    private mutating func observe(_ candidate: DeploymentState) {
        if let deployment, candidate.epoch < deployment.epoch { return }
        if let deployment, FeatureStamps(deployment) != FeatureStamps(candidate) {
            // Cached heads, coverage and rows belong to the old stamps; rounds in flight finish under theirs.
            for user in users.keys {
                users[user]?.head = nil
                users[user]?.coverage = nil
                users[user]?.history = []
                users[user]?.seen = 0
            }
        }
        deployment = candidate
    }

    private mutating func receive(_ token: DeliveryToken, _ batch: ThawWire.FeatureBatch, now: Timestamp) {
        bump(.batches)
        bump(.samples, by: batch.sampleIDs.count)
        let pending = PendingBatch(token: token, batch: batch)
        if draining {
            log(.notice, "batch during shutdown; left for the device to re-send", batch)
            return release(token, batch)
        }
        if holds(pending.ref) {
            // A resend of a batch this worker is already storing or training: its first copy decides.
            bump(.duplicates)
            return release(token, batch)
        }
        if let violation = ActivationEncodingFence.check(batch) {
            refuse("pull", violation)
            returnRejection(batch, reason: .invalid, detail: violation.detail, now: now)
            return release(token, batch)
        }
        guard let deployment else {
            bump(.rejectedStale)
            log(.notice, "batch before any heartbeat; left for the device to re-send", batch)
            return release(token, batch)
        }
        switch StaleBatchFence.decide(
            batch: FeatureStamps(
                modelVersion: ModelVersion(batch.modelVersion), freezePoint: FreezePoint(Int(batch.freezePoint)),
                hyperParameterHash: batch.hyperHash),
            epoch: batch.epoch, current: deployment)
        {
        case .accept, .advance:
            guard let contract = contract(for: deployment.modelVersion, now: now) else {
                waitingForModel.append(pending)
                inFlight.insert(pending.ref)
                return
            }
            admit(pending, contract: contract, deployment: deployment, now: now)
        case .leaveForRetry:
            bump(.rejectedStale)
            log(.notice, "batch newer than this worker's state; left for the device to re-send", batch)
            release(token, batch)
        case .reject(let reason):
            bump(.rejectedStale)
            log(.notice, "rejected a stale batch", batch, ["reason": "\(reason)"])
            returnRejection(batch, reason: reason, now: now)
            release(token, batch)
        }
    }

    /// A batch that passed the fence, with the model known: advance it if it is stale, check it, store it.
    private mutating func admit(
        _ pending: PendingBatch, contract: ModelContract, deployment: DeploymentState, now: Timestamp
    ) {
        let batch = pending.batch
        let k = Int(batch.freezePoint)
        if k != deployment.freezePoint.index {
            guard k >= 1, k < deployment.freezePoint.index,
                Array(batch.activations.shape.dropFirst()) == contract.architecture.activationShape(at: k)
            else {
                bump(.rejectedStale)
                log(.warning, "refused a stale batch whose activations do not fit the model", batch)
                returnRejection(batch, reason: .invalid, now: now)
                return release(pending.token, batch)
            }
            inFlight.insert(pending.ref)
            actions.append(.advance(pending.token, batch, from: FreezePoint(k), to: deployment.freezePoint))
            return
        }
        do {
            // A batch that does not fit the model must not reach the store, where it would poison every
            // later training of this user.
            try contract.checkBatch(
                shape: batch.activations.shape, labels: batch.labels, freezePoint: batch.freezePoint,
                what: "feature batch \(batch.deviceID)#\(batch.deviceSeq)")
        } catch {
            refuse("pull", error)
            return release(pending.token, batch)
        }
        store(pending, now: now)
    }

    private mutating func store(_ pending: PendingBatch, now: Timestamp) {
        inFlight.insert(pending.ref)
        // Decoded once, on arrival: the registry gets (and stores) the float32 values training will use,
        // not a second quantisation of them.
        var decoded = pending.batch
        decoded.activationEncoding = .float32
        send(.store(pending.token, pending), .featureBatch(decoded), now: now)
    }

    private mutating func retrain(_ request: RetrainRequest, now: Timestamp) {
        let state = WireBridge.deployment(request.state)
        if deployment.map({ state.epoch > $0.epoch }) ?? true { observe(state) }
        guard let deployment, FeatureStamps(state) == FeatureStamps(deployment), !draining else {
            actions.append(
                .log(
                    .notice, "dropped a retrain request for another deployment",
                    ["user": request.userID, "freeze.point": "\(request.state.freezePoint)"]))
            return
        }
        users[request.userID, default: UserState()].retrainWanted = true
        startRound(request.userID, now: now)
    }

    // MARK: Rounds

    private mutating func startRound(_ user: String, now: Timestamp) {
        guard var state = users[user], state.round == nil, let deployment else { return }
        guard !state.pending.isEmpty || state.retrainWanted else { return }
        let stamps = FeatureStamps(deployment)
        // Batches stored under older stamps than the current ones cannot go into this round's head;
        // they are left for the device, which re-stamps or re-sends them.
        let (current, stale) = state.pending.partitioned { FeatureStamps(of: $0.batch) == stamps }
        for batch in stale { release(batch.token, batch.batch) }
        state.pending = []
        let retrain = state.retrainWanted
        let full = retrain || state.coverage?.stamps != stamps
        if retrain { state.coverage = nil }
        state.retrainWanted = false
        guard !current.isEmpty || retrain else {
            users[user] = state
            return
        }
        bump(.rounds)
        bump(.coalescedBatches, by: current.count)
        state.round = Round(batches: current, stamps: stamps, full: full, phase: .head(0))
        users[user] = state
        if !full, !state.contended, let head = state.head, head.stamps == stamps {
            // The cached head is the one this worker committed or fetched last: commit on top of it
            // optimistically; a conflict says someone else moved it, and only then is it refetched.
            bump(.headsSkipped)
            return queueFetch(user, now: now)
        }
        requestHead(user, now: now)
    }

    private mutating func requestHead(_ user: String, now: Timestamp) {
        guard let round = users[user]?.round else { return }
        let have = users[user]?.head.flatMap { $0.stamps == round.stamps ? $0.hash : nil } ?? ""
        let id = send(
            .head(user: user),
            .headRequest(
                HeadRequest(
                    userID: user, deviceID: "", haveHash: have, modelVersion: round.stamps.modelVersion.number,
                    freezePoint: UInt32(round.stamps.freezePoint.index))), now: now)
        users[user]?.round?.phase = .head(id)
    }

    private mutating func headArrived(_ user: String, _ reply: HeadReply, now: Timestamp) {
        guard var state = users[user], let round = state.round, case .head = round.phase else { return }
        switch reply.status {
        case .head:
            let count = reply.headParameters?.scalars.count ?? 0
            do {
                guard let contract = loadedContract(round.stamps.modelVersion) else {
                    throw InputViolation(.unknownModel, "no model \(round.stamps.modelVersion) loaded")
                }
                try contract.checkHead(
                    count: count, freezePoint: reply.freezePoint, what: "the registry's head of \(user)")
                guard Int(reply.freezePoint) == round.stamps.freezePoint.index else {
                    throw InputViolation(
                        .wrongShape, "head of \(user) at k=\(reply.freezePoint), asked for \(round.stamps.freezePoint)")
                }
            } catch {
                refuse("dealer", error)
                return failRound(user, "the registry's head does not fit the model")
            }
            state.head = CachedHead(
                stamps: round.stamps, version: reply.headVersion, hash: reply.headHash,
                parameters: reply.headParameters?.scalars)
            if round.attempts == 0 && state.coverage != nil { state.contended = true }
        case .notModified:
            guard let head = state.head, head.stamps == round.stamps else {
                refuse("dealer", InputViolation(.unsolicitedReply, "not-modified for \(user), whose head this worker does not hold"))
                return failRound(user, "not-modified without a cached head")
            }
            bump(.headsNotModified)
            state.head?.version = reply.headVersion
            state.contended = false
        case .noHead:
            state.head = CachedHead(stamps: round.stamps, version: 0, hash: "", parameters: nil)
            state.coverage = nil
        case .staleRequest:
            // The registry's latest head is from other stamps: start from the base head, on top of its version.
            state.head = CachedHead(stamps: round.stamps, version: reply.headVersion, hash: "", parameters: nil)
            state.coverage = nil
        case .headDelta:
            // A worker never sets accept_delta, so a registry never sends it one.
            refuse("dealer", InputViolation(.unsolicitedReply, "a head delta for \(user), which this worker never asks for"))
            return failRound(user, "an unrequested head delta")
        }
        if state.coverage == nil { state.round?.full = true }
        users[user] = state
        queueFetch(user, now: now)
    }

    /// Fetches a round's rows as late as keeps the training slots busy: while a job runs, only as many
    /// rounds as there are slots have fetched (or are fetching) and wait. A user's batches stored until
    /// its fetch join its round, so under load a round takes everything that arrived while the rounds
    /// ahead of it trained: fewer, larger rounds, and fewer 6 MB head commits per sample.
    private mutating func queueFetch(_ user: String, now: Timestamp) {
        users[user]?.round?.phase = .queued
        if !fetchQueue.contains(user) { fetchQueue.append(user) }
        pumpFetches(now: now)
    }

    private mutating func pumpFetches(now: Timestamp) {
        func prefetched() -> Int {
            users.values.count { state in
                switch state.round?.phase {
                case .fetch, .waitingForSlot: true
                default: false
                }
            }
        }
        while !fetchQueue.isEmpty, prefetched() < max(configuration.trainingSlots, 1) {
            let user = fetchQueue.removeFirst()
            guard users[user]?.round?.phase == .queued else { continue }
            fetch(user, now: now)
        }
    }

    /// Asks for the rows after the user's coverage (every row, for a full round): a listing without
    /// values when every batch of the round is one this worker stored and holds (``localRows(_:)``).
    private mutating func fetch(_ user: String, now: Timestamp, listing allowed: Bool = true) {
        guard let state = users[user], let round = state.round else { return }
        let listing = allowed && configuration.reuseStoredRows && !round.batches.isEmpty
            && round.batches.allSatisfy { !$0.rowIDs.isEmpty && Self.reusable($0.batch, for: round.stamps) }
        let coverage = round.full ? nil : state.coverage
        // A registry that reports row ids serves `after_row`; one that does not serves rows from the
        // first, so the page must reach past the coverage.
        let after = coverage?.lastRow ?? 0
        let page = round.full
            ? configuration.maxSamplesPerUser
            : (after > 0 ? configuration.fetchPage : (coverage?.rows ?? 0) + configuration.fetchPage)
        let pageSize = UInt32(min(max(page, 1), Int(UInt32.max)))
        let id = send(
            .fetch(user: user),
            .featureFetch(
                FeatureFetch(
                    userID: user, modelVersion: round.stamps.modelVersion.number,
                    freezePoint: UInt32(round.stamps.freezePoint.index), maxSamples: pageSize,
                    hyperHash: round.stamps.hyperParameterHash, afterRow: after, withoutActivations: listing)), now: now)
        users[user]?.round?.askedListing = listing
        users[user]?.round?.askedAfter = after
        users[user]?.round?.pageSize = pageSize
        users[user]?.round?.phase = .fetch(id)
    }

    /// Whether this worker's copy of `batch` holds exactly the values the registry stored for it under
    /// `stamps`: the same stamps, and an encoding whose decode → encode → decode round trip (worker →
    /// registry) is exact. Not int8: re-quantising dequantised values may move a scale by one ulp.
    static func reusable(_ batch: ThawWire.FeatureBatch, for stamps: FeatureStamps) -> Bool {
        FeatureStamps(of: batch) == stamps && batch.activationEncoding != .int8
    }

    /// The values of the rows this worker stored for `user` under the round's stamps, by registry row id.
    private func localRows(_ state: UserState, _ round: Round, perSample: Int) -> [UInt64: ArraySlice<Float>] {
        var rows: [UInt64: ArraySlice<Float>] = [:]
        for pending in round.batches + state.pending
        where !pending.rowIDs.isEmpty && Self.reusable(pending.batch, for: round.stamps) {
            let scalars = pending.batch.activations.scalars
            guard scalars.count == pending.rowIDs.count * perSample else { continue }
            for (index, row) in pending.rowIDs.enumerated() {
                rows[row] = scalars[(index * perSample)..<((index + 1) * perSample)]
            }
        }
        return rows
    }

    private mutating func featuresArrived(_ user: String, _ set: FeatureSet, now: Timestamp) {
        guard var state = users[user], var round = state.round, case .fetch = round.phase else { return }
        let perSample: Int
        do {
            guard let contract = loadedContract(round.stamps.modelVersion) else {
                throw InputViolation(.unknownModel, "no model \(round.stamps.modelVersion) loaded")
            }
            if set.isListing && !round.askedListing {
                throw InputViolation(.wrongShape, "feature set of \(user) lists rows without values, which were asked for")
            }
            if !set.labels.isEmpty && !set.isListing {
                try contract.checkBatch(
                    shape: set.activations.shape, labels: set.labels,
                    freezePoint: UInt32(round.stamps.freezePoint.index), what: "the registry's stored features of \(user)")
            }
            guard set.sampleIDs.count == set.labels.count, set.rowIDs.isEmpty || set.rowIDs.count == set.labels.count,
                zip(set.rowIDs, set.rowIDs.dropFirst()).allSatisfy({ $0 < $1 })
            else {
                throw InputViolation(
                    .wrongShape, "feature set of \(user): ids, labels and row ids differ in count or order")
            }
            perSample = contract.architecture.activationShape(at: round.stamps.freezePoint.index).reduce(1, *)
        } catch {
            refuse("dealer", error)
            return failRound(user, "the registry's features do not fit the model")
        }
        // A listing names the rows; their values come from the batches this worker stored. A row it does
        // not hold (stored by another worker, or before this worker started) needs a fetch with values.
        var held: [UInt64: ArraySlice<Float>] = [:]
        if set.isListing {
            held = localRows(state, round, perSample: perSample)
            let after = round.askedAfter
            guard set.rowIDs.count == set.labels.count, set.rowIDs.allSatisfy({ $0 <= after || held[$0] != nil })
            else {
                bump(.listingMisses)
                return fetch(user, now: now, listing: false)
            }
            bump(.rowsReused, by: set.rowIDs.filter { $0 > after }.count)
        } else {
            bump(.rowsFetched, by: set.labels.count)
        }
        let base = round.full ? nil : state.coverage
        var fresh: [Row] = []
        var last = base?.lastRow ?? 0
        for index in set.labels.indices {
            if let base {
                if round.askedAfter > 0 {
                    // A registry that ignores after_row sends rows this worker's head has already: skip them.
                    guard !set.rowIDs.isEmpty, set.rowIDs[index] > round.askedAfter else { continue }
                } else if index < base.rows {
                    continue  // rows from the first: the coverage is a prefix in id order
                }
            }
            fresh.append(
                Row(
                    sampleID: set.sampleIDs[index], label: Int(set.labels[index]),
                    activation: set.isListing
                        ? held[set.rowIDs[index]]!
                        : set.activations.scalars[(index * perSample)..<((index + 1) * perSample)]))
            if !set.rowIDs.isEmpty { last = max(last, set.rowIDs[index]) }
        }
        let coverage = Coverage(stamps: round.stamps, rows: (base?.rows ?? 0) + fresh.count, lastRow: last)
        // A batch was stored before this fetch, so unless the page was cut short its rows are either in
        // the coverage already or among the fresh ones; with a cut page only batches whose every sample
        // came back are consumed, the rest wait for the next round.
        let cut = set.labels.count >= Int(round.pageSize)
        let freshIDs = Set(fresh.map(\.sampleID))
        let (inside, outside) = round.batches.partitioned { !cut || $0.batch.sampleIDs.allSatisfy(freshIDs.contains) }
        // Batches of this user waiting for the next round whose rows all came back are covered by this
        // round's head too: consume them now (named in `consumed`, released at the commit).
        let (joining, waiting) = state.pending.partitioned {
            FeatureStamps(of: $0.batch) == round.stamps && !fresh.isEmpty && $0.batch.sampleIDs.allSatisfy(freshIDs.contains)
        }
        bump(.coalescedBatches, by: joining.count)
        state.pending = outside + waiting
        round.batches = inside + joining
        if fresh.isEmpty {
            // Nothing after the coverage: the round's batches are in the head already (another worker
            // trained them), or the registry has no rows for a retrain. Nothing to commit.
            state.round = nil
            users[user] = state
            for pending in round.batches { release(pending.token, pending.batch) }
            if round.batches.isEmpty {
                actions.append(.log(.notice, "no stored rows to train on", ["user": user]))
            }
            return startRound(user, now: now)
        }
        round.fresh = fresh
        round.coverage = coverage
        round.phase = .waitingForSlot
        state.round = round
        users[user] = state
        queueForSlot(user)
    }

    /// Keeps a seeded reservoir sample of at most `historyRows` older rows of `user` to replay.
    private func remember(_ row: Row, in state: inout UserState, user: String) {
        state.seen += 1
        if state.history.count < configuration.historyRows {
            state.history.append(row)
            return
        }
        var generator = SeededGenerator(seed: Self.seed(user) &+ UInt64(state.seen))
        let slot = Int(generator.next() % UInt64(state.seen))
        if slot < state.history.count { state.history[slot] = row }
    }

    private mutating func queueForSlot(_ user: String) {
        if !slotQueue.contains(user) { slotQueue.append(user) }
        startJobs()
    }

    private mutating func startJobs() {
        while running.count < max(configuration.trainingSlots, 1), !slotQueue.isEmpty {
            let user = slotQueue.removeFirst()
            guard var state = users[user], var round = state.round, round.phase == .waitingForSlot,
                let contract = loadedContract(round.stamps.modelVersion)
            else { continue }
            let k = round.stamps.freezePoint
            var activations: [Float] = []
            var labels: [Int] = []
            for row in round.fresh {
                activations += row.activation
                labels.append(row.label)
            }
            let newSamples = labels.count
            var replayed = 0
            let version = state.head?.version ?? 0
            let seed = Self.seed(user) &+ version &* 0x9E37_79B9 &+ UInt64(round.attempts)
            if !round.full, !state.history.isEmpty, state.historyStamps == round.stamps {
                var generator = SeededGenerator(seed: seed)
                var indices = Array(state.history.indices)
                indices.shuffle(using: &generator)
                let budget = min(
                    configuration.replaySamples, Int((Double(newSamples) * configuration.replayFraction).rounded(.up)))
                for index in indices.prefix(budget) {
                    activations += state.history[index].activation
                    labels.append(state.history[index].label)
                    replayed += 1
                }
            }
            nextID += 1
            let job = TrainingJob(
                id: nextID, user: user, modelVersion: round.stamps.modelVersion, freezePoint: k,
                start: state.head?.parameters, sampleShape: contract.architecture.activationShape(at: k.index),
                activations: activations, labels: labels, newSamples: newSamples, seed: seed)
            round.replayed = replayed
            round.phase = .training(job.id)
            state.round = round
            users[user] = state
            running[job.id] = user
            actions.append(.train(job))
        }
    }

    private mutating func trained(_ job: UInt64, _ result: TrainingResult, now: Timestamp) {
        guard let user = running.removeValue(forKey: job) else { return startJobs() }
        defer { startJobs() }
        guard let state = users[user], var round = state.round, round.phase == .training(job),
            let coverage = round.coverage
        else { return }
        bump(.trainedSamples, by: round.fresh.count + round.replayed)
        bump(.replayedSamples, by: round.replayed)
        round.result = result
        let commit = ThawWire.HeadCommit(
            userID: user, parentVersion: state.head?.version ?? 0, modelVersion: round.stamps.modelVersion.number,
            freezePoint: UInt32(round.stamps.freezePoint.index), hyperHash: round.stamps.hyperParameterHash,
            headHash: result.headHash, consumed: round.batches.map(\.ref),
            // `samples` is the coverage the registry acknowledges batches by (rows in id order).
            metrics: TrainingMetrics(
                loss: Double(result.loss), samples: UInt64(coverage.rows), steps: UInt64(result.steps)),
            headParameters: WireTensor(flat: result.parameters))
        users[user]?.round = round
        let id = send(.commit(user: user), .headCommit(commit), now: now)
        users[user]?.round?.phase = .committing(id)
    }

    private mutating func committed(_ user: String, _ ack: CommitAck, now: Timestamp) {
        guard var state = users[user], let round = state.round, case .committing = round.phase else { return }
        bump(.commits)
        if round.full && round.batches.isEmpty { bump(.retrains) }
        state.head = CachedHead(
            stamps: round.stamps, version: ack.version, hash: round.result?.headHash ?? ack.headHash,
            parameters: round.result?.parameters)
        state.coverage = round.coverage
        if state.historyStamps != round.stamps {
            state.history = []
            state.seen = 0
            state.historyStamps = round.stamps
        }
        let known = Set(state.history.map(\.sampleID))
        for row in round.fresh where !known.contains(row.sampleID) { remember(row, in: &state, user: user) }
        state.round = nil
        users[user] = state
        actions.append(
            .log(
                .info, "committed a head",
                [
                    "user": user, "head.version": "\(ack.version)", "batches": "\(round.batches.count)",
                    "rows": "\(round.fresh.count)", "replayed": "\(round.replayed)", "loss": "\(round.result?.loss ?? 0)",
                ]))
        for pending in round.batches { release(pending.token, pending.batch) }
        startRound(user, now: now)
    }

    private mutating func conflicted(_ user: String, _ conflict: CommitConflict, now: Timestamp) {
        guard var state = users[user], var round = state.round, case .committing = round.phase else { return }
        bump(.conflicts)
        state.contended = true
        // Someone else committed: refetch the head. The coverage stays true (the newer head descends
        // from the one that had it), so the retry is incremental too.
        state.head = nil
        round.attempts += 1
        guard round.attempts < configuration.commitAttempts else {
            users[user] = state
            return failRound(user, "gave up after \(configuration.commitAttempts) conflicting commits")
        }
        // Batches that arrived meanwhile join the retry: one training for all of them.
        let joining = state.pending.filter { FeatureStamps(of: $0.batch) == round.stamps }
        round.batches += joining
        bump(.coalescedBatches, by: joining.count)
        state.pending.removeAll { FeatureStamps(of: $0.batch) == round.stamps }
        round.result = nil
        round.fresh = []
        round.coverage = nil
        round.phase = .head(0)
        state.round = round
        users[user] = state
        requestHead(user, now: now)
    }

    /// Ends `user`'s round without a commit: its batches go back to their devices (unacknowledged).
    private mutating func failRound(_ user: String, _ why: String) {
        guard var state = users[user], let round = state.round else { return }
        bump(.failures)
        if case .training(let job) = round.phase { running[job] = nil }
        slotQueue.removeAll { $0 == user }
        actions.append(
            .log(.warning, "round abandoned; its batches are left for the devices to re-send",
                 ["user": user, "batches": "\(round.batches.count)", "error": why]))
        for pending in round.batches { release(pending.token, pending.batch) }
        state.round = nil
        state.head = nil
        users[user] = state
        startJobs()
    }

    // MARK: Replies

    private mutating func reply(_ message: ThawMessage, inReplyTo: UInt64, now: Timestamp) {
        var id = inReplyTo
        if id == 0, case .errorReply(let refusal) = message { id = refusal.inReplyToSequence }
        if id == 0 { id = match(message) ?? 0 }
        guard id != 0, let (request, _) = outstanding.removeValue(forKey: id) else {
            return refuse(
                "dealer",
                InputViolation(.unsolicitedReply, "\(message.kind) (in reply to \(inReplyTo)) answers no outstanding request"))
        }
        if case .errorReply(let refusal) = message {
            return requestFailed(request, "the registry refused it: \(refusal.message)", now: now)
        }
        switch (request, message) {
        case (.store(let token, let pending), .featureStored(let answer))
        where answer.deviceID == pending.batch.deviceID && answer.deviceSeq == pending.batch.deviceSeq:
            inFlight.remove(pending.ref)
            if answer.duplicate {
                // Stored before and already in the user's latest head: nothing to do.
                bump(.duplicates)
                return release(token, pending.batch)
            }
            bump(.stored)
            if draining { return release(token, pending.batch) }
            var pending = pending
            if answer.rowIDs.count == pending.batch.sampleIDs.count { pending.rowIDs = answer.rowIDs }
            users[pending.batch.userID, default: UserState()].pending.append(pending)
            startRound(pending.batch.userID, now: now)
        case (.head(let user), .headReply(let answer)) where answer.userID == user:
            headArrived(user, answer, now: now)
        case (.fetch(let user), .featureSet(let set)) where set.userID == user:
            featuresArrived(user, set, now: now)
        case (.commit(let user), .commitAck(let ack)) where ack.userID == user:
            committed(user, ack, now: now)
        case (.commit(let user), .commitConflict(let conflict)) where conflict.userID == user:
            conflicted(user, conflict, now: now)
        case (.rejection, .rejectionRecorded):
            bump(.rejectionsReturned)
        case (.baseModel(let version), .baseModelReply(let answer)) where answer.modelVersion == version.number:
            guard answer.status == .ok, let bytes = answer.checkpoint else {
                return modelFailed(version, "the registry has no base model \(version)")
            }
            model = .loading(version, request: nil)
            actions.append(.loadModel(version, checkpoint: bytes))
        default:
            refuse("dealer", InputViolation(.unexpectedKind, "\(message.kind) does not answer request #\(id)"))
            requestFailed(request, "the registry answered with \(message.kind)", now: now)
        }
    }

    /// The outstanding request a reply without `in_reply_to` answers (a registry from before request ids):
    /// by kind and by the user, batch or version it names.
    private func match(_ message: ThawMessage) -> UInt64? {
        outstanding.filter { _, entry in
            switch (entry.request, message) {
            case (.store(_, let pending), .featureStored(let answer)):
                answer.deviceID == pending.batch.deviceID && answer.deviceSeq == pending.batch.deviceSeq
            case (.head(let user), .headReply(let answer)): answer.userID == user
            case (.fetch(let user), .featureSet(let set)): set.userID == user
            case (.commit(let user), .commitAck(let ack)): ack.userID == user
            case (.commit(let user), .commitConflict(let conflict)): conflict.userID == user
            case (.rejection(let ref), .rejectionRecorded(let answer)):
                answer.deviceID == ref.deviceID && answer.deviceSeq == ref.deviceSeq
            case (.baseModel(let version), .baseModelReply(let answer)): answer.modelVersion == version.number
            default: false
            }
        }.keys.min()
    }

    private mutating func requestFailed(_ request: Request, _ why: String, now: Timestamp) {
        switch request {
        case .store(let token, let pending):
            inFlight.remove(pending.ref)
            bump(.failures)
            log(.warning, "batch not stored; left for the device to re-send", pending.batch, ["error": why])
            release(token, pending.batch)
        case .head(let user), .fetch(let user), .commit(let user):
            failRound(user, why)
            startRound(user, now: now)
        case .rejection(let ref):
            actions.append(.log(.warning, "rejection not recorded", ["batch.id": "\(ref.deviceID)#\(ref.deviceSeq)", "error": why]))
        case .baseModel(let version):
            modelFailed(version, why)
        }
    }

    private mutating func expire(now: Timestamp) {
        let late = outstanding.filter { now.duration(since: $0.value.sentAt) >= configuration.requestTimeout }
        for (id, entry) in late.sorted(by: { $0.key < $1.key }) {
            outstanding[id] = nil
            bump(.timeouts)
            requestFailed(entry.request, "no reply from the registry within \(configuration.requestTimeout)", now: now)
        }
    }

    // MARK: Model

    /// The contract of `version` when it is loaded; otherwise asks for it (once) and returns nil.
    private mutating func contract(for version: ModelVersion, now: Timestamp) -> ModelContract? {
        switch model {
        case .loaded(let loaded, let contract) where loaded == version: return contract
        case .loading(let loading, _) where loading == version: return nil
        default:
            let id = send(.baseModel(version), .baseModelRequest(BaseModelRequest(modelVersion: version.number)), now: now)
            model = .loading(version, request: id)
            return nil
        }
    }

    private func loadedContract(_ version: ModelVersion) -> ModelContract? {
        if case .loaded(let loaded, let contract) = model, loaded == version { return contract }
        return nil
    }

    private mutating func modelLoaded(_ version: ModelVersion, _ contract: ModelContract, now: Timestamp) {
        model = .loaded(version, contract)
        let waiting = waitingForModel
        waitingForModel = []
        for pending in waiting {
            inFlight.remove(pending.ref)
            guard let deployment, deployment.modelVersion == version else {
                // The deployment moved on while the model loaded: fence the batch again.
                receive(pending.token, pending.batch, now: now)
                continue
            }
            admit(pending, contract: contract, deployment: deployment, now: now)
        }
        startJobs()
    }

    private mutating func modelFailed(_ version: ModelVersion, _ why: String) {
        if case .loading(let loading, _) = model, loading == version { model = nil }
        bump(.failures)
        actions.append(.log(.warning, "no base model; batches left for re-send", ["model.version": "\(version)", "error": why]))
        for pending in waitingForModel {
            inFlight.remove(pending.ref)
            release(pending.token, pending.batch)
        }
        waitingForModel = []
    }

    // MARK: Helpers

    private mutating func returnRejection(
        _ batch: ThawWire.FeatureBatch, reason: RejectReason, detail: String? = nil, now: Timestamp
    ) {
        guard let deployment else { return }
        let rejection = BatchRejected(
            deviceID: batch.deviceID, deviceSeq: batch.deviceSeq, reason: reason.wire,
            currentState: WireBridge.wire(deployment),
            detail: detail
                ?? "stamped k=\(batch.freezePoint) v\(batch.modelVersion); "
                + "current k=\(deployment.freezePoint.index) v\(deployment.modelVersion.number)")
        send(.rejection(BatchRef(deviceID: batch.deviceID, deviceSeq: batch.deviceSeq)), .batchRejected(rejection), now: now)
    }

    @discardableResult
    private mutating func send(_ request: Request, _ message: ThawMessage, now: Timestamp) -> UInt64 {
        nextID += 1
        outstanding[nextID] = (request, now)
        actions.append(.send(id: nextID, message))
        return nextID
    }

    private func holds(_ ref: BatchRef) -> Bool {
        if inFlight.contains(ref) { return true }
        return users.values.contains { state in
            state.pending.contains { $0.ref == ref } || (state.round?.batches.contains { $0.ref == ref } ?? false)
        }
    }

    private mutating func release(_ token: DeliveryToken, _ batch: ThawWire.FeatureBatch) {
        actions.append(.release(token))
    }

    private mutating func bump(_ what: WorkerCount, by amount: Int = 1) {
        counts[what, default: 0] += amount
        actions.append(.count(what, amount))
    }

    private mutating func refuse(_ socket: String, _ error: any Error) {
        actions.append(.refuse(socket: socket, reason: InputRefusals.reason(of: error), detail: "\(error)"))
    }

    private mutating func log(
        _ level: Logger.Level, _ message: String, _ batch: ThawWire.FeatureBatch, _ extra: [String: String] = [:]
    ) {
        actions.append(
            .log(
                level, message,
                ["batch.id": "\(batch.deviceID)#\(batch.deviceSeq)", "freeze.point": "\(batch.freezePoint)"]
                    .merging(extra) { $1 }))
    }

    static func seed(_ user: String) -> UInt64 {
        // FNV-1a: stable across processes (Swift's Hasher is seeded per process).
        user.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}

extension FeatureStamps {
    init(of batch: ThawWire.FeatureBatch) {
        self.init(
            modelVersion: ModelVersion(batch.modelVersion), freezePoint: FreezePoint(Int(batch.freezePoint)),
            hyperParameterHash: batch.hyperHash)
    }
}

extension Array {
    fileprivate func partitioned(_ isIncluded: (Element) -> Bool) -> ([Element], [Element]) {
        var yes: [Element] = []
        var no: [Element] = []
        for element in self {
            if isIncluded(element) { yes.append(element) } else { no.append(element) }
        }
        return (yes, no)
    }
}
