import ThawNN

/// What a worker does with a batch whose stamps differ from its deployment (docs/FREEZE-MOVES.md).
///
/// - Same model and hyper-parameters, *shallower* freeze point (the point moved deeper after the device
///   stamped it): the worker holds layers `[k, k')` of the same model, so it **advances** the batch
///   and trains on it; the device never re-uploads.
/// - Deeper freeze point (the point moved shallower), an older model, other hyper-parameters: the
///   activations cannot be used; the worker **rejects** the batch and returns a `BatchRejected` to the
///   device through the registry.
/// - A batch stamped under a *newer* epoch than the worker's: the worker missed a broadcast, so it can
///   neither trust its own stamps to advance nor reject; it **leaves** the batch unacknowledged and the
///   device's outbox re-sends it.
public enum StaleBatchFence {
    public enum Decision: Equatable, Sendable {
        case accept
        case advance(from: FreezePoint, to: FreezePoint)
        case reject(RejectReason)
        case leaveForRetry
    }

    /// - Parameters:
    ///   - batch: the batch's stamps.
    ///   - epoch: the batch's epoch (0 when the device did not send one).
    ///   - current: the worker's deployment.
    public static func decide(batch: FeatureStamps, epoch: UInt64 = 0, current: DeploymentState) -> Decision {
        if batch == FeatureStamps(current) { return .accept }
        if epoch > current.epoch || batch.modelVersion > current.modelVersion { return .leaveForRetry }
        if batch.modelVersion < current.modelVersion { return .reject(.staleModel) }
        if batch.hyperParameterHash != current.hyperParameterHash { return .reject(.staleHyper) }
        if batch.freezePoint < current.freezePoint { return .advance(from: batch.freezePoint, to: current.freezePoint) }
        return .reject(.staleFreezePoint)
    }
}
