/// A request a worker made, named so that its failure can be reported.
public enum TrainerWorkerRequest: Hashable, Sendable {
    case store(device: DeviceID, sequence: UInt64)
    case fetchHead(UserID)
    case fetchFeatures(UserID)
    case train(UserID)
    case commit(UserID)
}

/// Everything that happens to a worker: input from devices and the coordinator, replies from the
/// registry, and the end of a training job.
public enum TrainerWorkerEvent: Hashable, Sendable {
    /// A device pushed a batch.
    case batchReceived(FeatureBatch)
    /// The coordinator broadcast (or replayed) the deployment.
    case deploymentObserved(DeploymentState)
    /// The registry made the batch durable (`duplicate` when it already was).
    case stored(device: DeviceID, sequence: UInt64, duplicate: Bool)
    /// The registry's newest head for the user (nil: none yet).
    case headFetched(user: UserID, head: HeadRecord?)
    case featuresFetched(user: UserID, features: [StoredFeature])
    /// The caller finished a ``TrainingJob``.
    /// `hash` is the head's SHA-256 content hash (`ContentHash.head`), which the registry verifies.
    case trained(user: UserID, parameters: [Float], hash: String, loss: Float)
    case commitAcked(user: UserID, version: UInt64)
    /// The compare-and-set lost: `currentVersion` is the head that won.
    case commitConflict(user: UserID, currentVersion: UInt64)
    /// A request failed, timed out, or (for `.train`) produced unusable output.
    case requestFailed(TrainerWorkerRequest)
}
