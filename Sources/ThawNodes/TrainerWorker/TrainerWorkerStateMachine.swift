import ThawNN

/// The trainer worker's logic as a pure state machine: events in, actions out, no sockets, no disk, no
/// engine (the pattern of NIO's `ProtocolNegotiationHandlerStateMachine`).
///
/// A worker holds nothing that cannot be lost. A batch is acknowledged to the device only after the
/// registry made it durable; training always starts from the registry's latest head and the user's
/// stored features, and ends in a compare-and-set commit. A worker that dies at any point loses only
/// work in progress, which the next batch of that user (or its resend) redoes.
///
/// Per user, one run at a time: `fetchHead → fetchFeatures → train → commit`. Batches of a user that
/// become durable during a run only mark the user dirty, so one further run covers all of them.
///
/// Thread rule: a value type with `mutating` methods, owned by the node's single consumer task.
public struct TrainerWorkerStateMachine: Sendable {
    struct BatchKey: Hashable, Sendable {
        var device: DeviceID
        var sequence: UInt64
    }

    enum Phase: Hashable, Sendable {
        case idle
        case fetchingHead
        case fetchingFeatures(parent: HeadRecord?, stamps: FeatureStamps)
        case training(parentVersion: UInt64, stamps: FeatureStamps, samples: Int)
        case committing(stamps: FeatureStamps, loss: Float)
    }

    struct UserState: Hashable, Sendable {
        var phase: Phase = .idle
        /// A batch became durable after the current run fetched (or may have fetched) its features.
        var dirty = false
        var conflictAttempts = 0
        var failures = 0
    }

    public let configuration: TrainerWorkerConfiguration
    public internal(set) var deployment: DeploymentState?
    public internal(set) var metrics = TrainerWorkerMetrics()
    var pendingStores: [BatchKey: FeatureBatch] = [:]
    var users: [UserID: UserState] = [:]

    public init(configuration: TrainerWorkerConfiguration = TrainerWorkerConfiguration()) {
        self.configuration = configuration
    }

    /// Whether `user` has a run in flight.
    public func isBusy(_ user: UserID) -> Bool {
        users[user].map { $0.phase != .idle } ?? false
    }

    /// Batches sent to the registry and not yet confirmed.
    public var pendingStoreCount: Int { pendingStores.count }

    /// Feeds one event and returns what to do, in order.
    public mutating func handle(_ event: TrainerWorkerEvent) -> [TrainerWorkerAction] {
        switch event {
        case .batchReceived(let batch): return receive(batch)
        case .deploymentObserved(let state): return observe(state)
        case .stored(let device, let sequence, let duplicate):
            return stored(BatchKey(device: device, sequence: sequence), duplicate: duplicate)
        case .headFetched(let user, let head): return headFetched(user, head)
        case .featuresFetched(let user, let features): return featuresFetched(user, features)
        case .trained(let user, let parameters, let hash, let loss): return trained(user, parameters, hash, loss)
        case .commitAcked(let user, let version): return commitAcked(user, version)
        case .commitConflict(let user, let current): return commitConflict(user, current)
        case .requestFailed(let request): return failed(request)
        }
    }

    // MARK: - Batches

    private mutating func receive(_ batch: FeatureBatch) -> [TrainerWorkerAction] {
        metrics.batchesReceived += 1
        if let reason = rejection(for: batch) {
            metrics.rejected[reason, default: 0] += 1
            return [.reject(batch, reason: reason, current: deployment)]
        }
        let key = BatchKey(device: batch.device, sequence: batch.sequence)
        // A resend while the first copy is still on its way: its confirmation will ack both.
        guard pendingStores[key] == nil else { return [] }
        pendingStores[key] = batch
        return [.storeBatch(batch)]
    }

    /// The reason to refuse `batch` under the current deployment, or nil to accept it.
    func rejection(for batch: FeatureBatch) -> RejectReason? {
        guard let deployment else { return .noDeployment }
        let stamps = batch.stamps
        if stamps.modelVersion < deployment.modelVersion { return .staleModel }
        if stamps.modelVersion > deployment.modelVersion { return .workerBehind }
        if stamps.freezePoint != deployment.freezePoint { return .staleFreezePoint }
        if stamps.hyperParameterHash != deployment.hyperParameterHash { return .staleHyper }
        do { try batch.validate() } catch { return .invalid }
        return nil
    }

    private mutating func observe(_ state: DeploymentState) -> [TrainerWorkerAction] {
        // Broadcasts may be replayed or reordered; only a higher epoch replaces what we know.
        if let deployment, state.epoch <= deployment.epoch { return [] }
        deployment = state
        return []
    }

    private mutating func stored(_ key: BatchKey, duplicate: Bool) -> [TrainerWorkerAction] {
        guard let batch = pendingStores.removeValue(forKey: key) else {
            metrics.ignoredEvents += 1
            return []
        }
        if duplicate {
            metrics.duplicates += 1
        } else {
            metrics.batchesStored += 1
            metrics.samplesStored += batch.samples.count
        }
        var actions: [TrainerWorkerAction] = [
            .ackDevice(user: batch.user, device: batch.device, sequence: batch.sequence, duplicate: duplicate)
        ]
        // A duplicate triggers a run as well: the worker that stored it first may have died before
        // training. If the latest head already covers every stored row, the run is skipped cheaply.
        actions += requestRun(for: batch.user)
        return actions
    }

    /// Starts a run for `user`, or marks it dirty when one is in flight.
    private mutating func requestRun(for user: UserID) -> [TrainerWorkerAction] {
        var state = users[user] ?? UserState()
        defer { users[user] = state }
        guard state.phase == .idle else {
            if !state.dirty { metrics.coalesced += 1 }
            state.dirty = true
            return []
        }
        state.dirty = false
        state.conflictAttempts = 0
        state.failures = 0
        state.phase = .fetchingHead
        return [.fetchHead(user)]
    }
}
