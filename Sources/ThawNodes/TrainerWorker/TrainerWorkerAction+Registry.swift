extension TrainerWorkerAction {
    /// The registry request that performs this action, or nil for actions that do not involve the
    /// registry (device replies, training, give-ups).
    ///
    /// With ``TrainerWorkerEvent/init(reply:to:)`` this is all the glue a node needs between the worker's
    /// state machine and a registry, whatever transport carries the request.
    public var registryRequest: RegistryRequest? {
        switch self {
        case .storeBatch(let batch): .storeBatch(batch)
        case .fetchHead(let user), .retrainOnLatest(let user, _, _): .latestHead(user)
        case .fetchFeatures(let user, let stamps, let limit):
            .featureFetch(FeatureQuery(user: user, stamps: stamps, after: 0, limit: limit))
        case .commit(let commit): .commit(commit)
        case .reject, .ackDevice, .train, .gaveUp: nil
        }
    }

    /// The request to report as failed when this action's registry request fails or times out.
    public var failureRequest: TrainerWorkerRequest? {
        switch self {
        case .storeBatch(let batch): .store(device: batch.device, sequence: batch.sequence)
        case .fetchHead(let user), .retrainOnLatest(let user, _, _): .fetchHead(user)
        case .fetchFeatures(let user, _, _): .fetchFeatures(user)
        case .commit(let commit): .commit(commit.user)
        case .train(let job): .train(job.user)
        case .reject, .ackDevice, .gaveUp: nil
        }
    }
}

extension TrainerWorkerEvent {
    /// The event that reports the registry's `reply` to the request made for `action`.
    ///
    /// A `.rejected` reply, or a reply of the wrong kind (a registry bug or a crossed wire), is reported
    /// as a failure of the request so the state machine's retry bounds apply. Returns nil for actions that
    /// make no registry request.
    public init?(reply: RegistryReply, to action: TrainerWorkerAction) {
        guard let failure = action.failureRequest, action.registryRequest != nil else { return nil }
        switch (action, reply) {
        case (.storeBatch, .batchStored(let device, let sequence, let duplicate)):
            self = .stored(device: device, sequence: sequence, duplicate: duplicate)
        case (.fetchHead(let user), .latestHead(_, let head)),
            (.retrainOnLatest(let user, _, _), .latestHead(_, let head)):
            self = .headFetched(user: user, head: head)
        case (.fetchFeatures(let user, _, _), .features(let rows, _)):
            self = .featuresFetched(user: user, features: rows)
        case (.commit(let commit), .commit(.committed(let version, _))):
            self = .commitAcked(user: commit.user, version: version)
        case (.commit(let commit), .commit(.conflict(let current, _))):
            self = .commitConflict(user: commit.user, currentVersion: current)
        default:
            self = .requestFailed(failure)
        }
    }
}
