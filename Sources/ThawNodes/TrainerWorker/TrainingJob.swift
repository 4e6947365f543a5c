/// One unit of head training for one user, handed to the caller with ``TrainerWorkerAction/train(_:)``.
///
/// The caller runs it off the socket thread (the engine lives in ThawLearning) and reports
/// ``TrainerWorkerEvent/trained(user:parameters:loss:)``.
public struct TrainingJob: Hashable, Sendable {
    public var user: UserID
    /// The head version this training builds on; the commit is a compare-and-set against it.
    public var parentVersion: UInt64
    /// The deployment the features and the resulting head belong to.
    public var stamps: FeatureStamps
    /// The parent head's parameters when it was trained under the same stamps; nil means "initialise a
    /// fresh head" (no head yet, or the deployment changed since).
    public var initialParameters: [Float]?
    /// Every stored feature row of the user under `stamps` (up to the worker's page limit).
    public var features: [StoredFeature]
    /// 0 for the first attempt, then 1, 2, … for retrains after commit conflicts.
    public var attempt: Int

    public init(
        user: UserID, parentVersion: UInt64, stamps: FeatureStamps, initialParameters: [Float]?,
        features: [StoredFeature], attempt: Int
    ) {
        self.user = user
        self.parentVersion = parentVersion
        self.stamps = stamps
        self.initialParameters = initialParameters
        self.features = features
        self.attempt = attempt
    }
}
