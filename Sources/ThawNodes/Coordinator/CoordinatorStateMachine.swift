import ThawNN

/// The coordinator's logic as a pure state machine: it owns the ``DeploymentState`` and turns operator
/// commands and clock ticks into persist-and-broadcast actions. No sockets, no clock reads, no files.
///
/// Invariants: model versions only grow (an older or equal version is refused with
/// ``CoordinatorError/Code/versionNotNewer``); the freeze point stays in `1..<layerCount`; the epoch grows
/// by one on every change of the deployment state; every change is persisted before it is broadcast.
/// Invalidations do not change the deployment state and so do not bump the epoch.
public struct CoordinatorStateMachine: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// Layers in the deployed model; the freeze point must lie in `1..<layerCount`.
        public var layerCount: Int
        public var heartbeatInterval: Duration
        public var autoFreeze: AutoFreezePolicy

        public init(layerCount: Int, heartbeatInterval: Duration = .seconds(5), autoFreeze: AutoFreezePolicy = .init())
        {
            precondition(layerCount >= 2 && heartbeatInterval > .zero, "need a split model and a positive interval")
            self.layerCount = layerCount
            self.heartbeatInterval = heartbeatInterval
            self.autoFreeze = autoFreeze
        }
    }

    /// A read-only view for `thaw coordinator status` and the monitor.
    public struct Status: Sendable, Equatable {
        public var deployment: DeploymentState
        public var heartbeatCounter: UInt64
        public var lastFreezeMoveAt: Timestamp?
        public var autoFreezeEnabled: Bool
        public var medianStoredSamples: Double?
        public var usersReporting: Int
    }

    public let configuration: Configuration
    public private(set) var deployment: DeploymentState
    public private(set) var lastFreezeMoveAt: Timestamp?
    public private(set) var heartbeatCounter: UInt64 = 0
    private let startedAt: Timestamp
    private var lastHeartbeatAt: Timestamp?
    private var storedSamples: [UserID: Int] = [:]

    /// - Parameters:
    ///   - initial: the state to start from when nothing was persisted.
    ///   - snapshot: what ``CoordinatorStateStore`` loaded; it wins over `initial`.
    /// - Throws: ``CoordinatorError`` `.freezePointOutOfRange` if the starting freeze point does not fit
    ///   `configuration.layerCount`.
    public init(
        configuration: Configuration, initial: DeploymentState, restoring snapshot: CoordinatorSnapshot? = nil,
        now: Timestamp
    ) throws {
        self.configuration = configuration
        self.deployment = snapshot?.deployment ?? initial
        self.lastFreezeMoveAt = snapshot?.lastFreezeMoveAt
        self.startedAt = now
        try Self.validate(deployment.freezePoint, layerCount: configuration.layerCount)
    }

    public var snapshot: CoordinatorSnapshot {
        CoordinatorSnapshot(deployment: deployment, lastFreezeMoveAt: lastFreezeMoveAt)
    }

    public var status: Status {
        Status(
            deployment: deployment, heartbeatCounter: heartbeatCounter, lastFreezeMoveAt: lastFreezeMoveAt,
            autoFreezeEnabled: configuration.autoFreeze.isEnabled,
            medianStoredSamples: AutoFreezePolicy.median(Array(storedSamples.values)),
            usersReporting: storedSamples.count)
    }

    // MARK: - Commands

    /// Deploys a new base model.
    /// - Throws: ``CoordinatorError`` `.versionNotNewer` unless `version` is greater than the current one.
    public mutating func publishModel(version: ModelVersion, hash: String) throws -> [CoordinatorAction] {
        guard version > deployment.modelVersion else {
            throw CoordinatorError(
                code: .versionNotNewer, detail: "\(version) is not newer than the deployed \(deployment.modelVersion)")
        }
        deployment.modelVersion = version
        deployment.modelHash = hash
        deployment.epoch += 1
        // Stored counts were for the old model; wait for fresh reports before any automatic move.
        storedSamples.removeAll()
        return [.persist(snapshot), .broadcastModelAnnounce(deployment)]
    }

    /// Moves the split. Moving to the current point is a no-op (no epoch change, no actions).
    /// - Parameter reason: why it moved, carried in the broadcast (`operator`, or `automatic: …` from the policy).
    /// - Throws: ``CoordinatorError`` `.freezePointOutOfRange` outside `1..<layerCount`.
    public mutating func moveFreezePoint(to target: FreezePoint, now: Timestamp, reason: String = "operator") throws
        -> [CoordinatorAction]
    {
        try Self.validate(target, layerCount: configuration.layerCount)
        guard target != deployment.freezePoint else { return [] }
        let from = deployment.freezePoint
        deployment.freezePoint = target
        deployment.epoch += 1
        lastFreezeMoveAt = now
        storedSamples.removeAll()
        return [
            .persist(snapshot), .broadcastFreezePointChange(from: from, to: target, state: deployment, reason: reason),
        ]
    }

    /// Tells devices (all, or one user's) to forget samples.
    public func invalidate(user: UserID?, sampleIds: [UInt64], reason: InvalidationReason) -> [CoordinatorAction] {
        guard !sampleIds.isEmpty else { return [] }
        return [
            .broadcastInvalidation(
                Invalidation(user: user, sampleIds: sampleIds, reason: reason, epoch: deployment.epoch))
        ]
    }

    /// The registry reported how many samples `user` has stored at the current freeze point.
    public mutating func storedSamplesReported(user: UserID, count: Int) {
        storedSamples[user] = max(count, 0)
    }

    /// Time passed: apply the automatic freeze policy if it fires, then send a heartbeat if one is due
    /// (the first tick always sends one; later ones every `heartbeatInterval`, never in bursts).
    public mutating func tick(now: Timestamp) -> [CoordinatorAction] {
        var actions: [CoordinatorAction] = []
        if let target = configuration.autoFreeze.proposal(
            current: deployment.freezePoint, storedSamples: storedSamples, since: lastFreezeMoveAt ?? startedAt,
            now: now),
            let median = AutoFreezePolicy.median(Array(storedSamples.values)),
            let moved = try? moveFreezePoint(
                to: target, now: now, reason: "automatic: median user has \(Int(median)) stored samples")
        {
            actions += moved
        }
        if lastHeartbeatAt.map({ now.duration(since: $0) >= configuration.heartbeatInterval }) ?? true {
            lastHeartbeatAt = now
            heartbeatCounter += 1
            actions.append(.broadcastHeartbeat(deployment, counter: heartbeatCounter))
        }
        return actions
    }

    private static func validate(_ point: FreezePoint, layerCount: Int) throws {
        guard (1..<layerCount).contains(point.index) else {
            throw CoordinatorError(
                code: .freezePointOutOfRange, detail: "\(point) is outside 1..<\(layerCount)")
        }
    }
}
