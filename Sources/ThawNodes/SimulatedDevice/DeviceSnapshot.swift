/// What a device keeps on disk across restarts: annotated activations, the index of annotated samples
/// (so evicted ones can be recomputed from the raw input), the last deployment it saw, and the next batch
/// sequence number (so a restart never reuses one).
public struct DeviceSnapshot: Sendable, Equatable {
    public var nextSequence: UInt64
    public var deployment: DeploymentState?
    /// Labels of every annotated sample the user has, cached or not, keyed by sample id.
    public var annotatedLabels: [UInt64: Int]
    /// Annotated cache entries only, with their upload state; the in-flight ones, grouped by sequence,
    /// are the outbox, restored and re-sent under the same sequence numbers after a restart.
    public var entries: [CachedActivation]

    public init(
        nextSequence: UInt64, deployment: DeploymentState?, annotatedLabels: [UInt64: Int],
        entries: [CachedActivation]
    ) {
        self.nextSequence = nextSequence
        self.deployment = deployment
        self.annotatedLabels = annotatedLabels
        self.entries = entries
    }
}
