/// A worker's counters since it started, for the monitor and the benchmarks. A worker holds nothing
/// that cannot be lost, and these are no exception: they reset on restart.
public struct TrainerWorkerMetrics: Hashable, Sendable {
    public var batchesReceived = 0
    public var batchesStored = 0
    public var duplicates = 0
    public var samplesStored = 0
    public var rejected: [RejectReason: Int] = [:]
    /// Batches stored while their user was already training; covered by one later run.
    public var coalesced = 0
    public var trainingsStarted = 0
    /// Runs that found nothing the latest head had not already seen.
    public var trainingsSkipped = 0
    /// Runs dropped because the deployment changed while they were in flight.
    public var trainingsDiscarded = 0
    public var commits = 0
    public var conflicts = 0
    public var requestFailures = 0
    public var gaveUp = 0
    /// Replies that matched no request in flight (late replies after a retry); ignored.
    public var ignoredEvents = 0
    public var lastLoss: Float?

    public init() {}

    public var rejectedTotal: Int { rejected.values.reduce(0, +) }
}
