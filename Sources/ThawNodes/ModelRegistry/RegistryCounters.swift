/// What one registry process has done since it started, for the monitor and the benchmarks.
///
/// These are in-memory and reset on restart; the durable totals are the tables themselves.
public struct RegistryCounters: Hashable, Sendable {
    public var batchesStored = 0
    public var samplesStored = 0
    /// Batches whose `(device, sequence)` was already durable (resends after a lost ack).
    public var duplicates = 0
    /// Conditional head reads answered with a head.
    public var headsServed = 0
    public var notModified = 0
    /// Head reads refused because the latest head was trained under other stamps.
    public var staleHeadReads = 0
    public var commits = 0
    public var conflicts = 0
    public var featuresServed = 0
    public var featuresAdvanced = 0

    public init() {}
}
