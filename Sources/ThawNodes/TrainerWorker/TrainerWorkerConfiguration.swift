/// Bounds of a worker's retry behaviour.
public struct TrainerWorkerConfiguration: Hashable, Sendable {
    /// How many times a user's run is retrained on the latest head after losing a commit race.
    public var maxConflictRetries: Int
    /// How many times a user's run restarts after a failed or timed-out registry request or training.
    public var maxRequestRetries: Int
    /// The most feature rows fetched for one training run.
    public var featureLimit: Int

    public init(maxConflictRetries: Int = 3, maxRequestRetries: Int = 2, featureLimit: Int = 100_000) {
        precondition(maxConflictRetries >= 0 && maxRequestRetries >= 0 && featureLimit > 0)
        self.maxConflictRetries = maxConflictRetries
        self.maxRequestRetries = maxRequestRetries
        self.featureLimit = featureLimit
    }
}
