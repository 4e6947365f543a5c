/// What the worker's state machine asks its caller to do. The caller performs each action and reports
/// the outcome as a ``TrainerWorkerEvent``.
public enum TrainerWorkerAction: Hashable, Sendable {
    /// Tell the device its batch was refused, with the worker's current deployment (nil if none) so the
    /// device can tell who is behind.
    case reject(FeatureBatch, reason: RejectReason, current: DeploymentState?)
    /// Make the batch durable in the registry. Nothing else happens to a batch before this succeeds.
    case storeBatch(FeatureBatch)
    /// Tell the device its batch is durable (it may forget it). Sent for duplicates too: the earlier ack
    /// was lost.
    case ackDevice(user: UserID, device: DeviceID, sequence: UInt64, duplicate: Bool)
    /// Fetch the user's newest head (any stamps); report ``TrainerWorkerEvent/headFetched(user:head:)``.
    case fetchHead(UserID)
    /// Fetch the user's features under `stamps`, at most `limit` rows; report
    /// ``TrainerWorkerEvent/featuresFetched(user:features:)``.
    case fetchFeatures(UserID, stamps: FeatureStamps, limit: Int)
    /// Train, off the socket thread; report ``TrainerWorkerEvent/trained(user:parameters:loss:)``.
    case train(TrainingJob)
    /// Compare-and-set the trained head on its parent; report `commitAcked` or `commitConflict`.
    case commit(HeadCommit)
    /// A commit lost the race: start over on the winner's head. Performed exactly like ``fetchHead(_:)``
    /// (the reply is `headFetched`); it is a separate case so that logs and tests see the retry.
    case retrainOnLatest(UserID, latestVersion: UInt64, attempt: Int)
    /// Conflicts or failures exceeded their bound; the user waits for the next batch to try again.
    case gaveUp(UserID, after: TrainerWorkerRequest)
}
