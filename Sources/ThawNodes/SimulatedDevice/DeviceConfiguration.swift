import ThawDeviceProfile
/// Tunables of one simulated phone.
public struct DeviceConfiguration: Sendable {
    /// Layers in the whole model (backbone plus head), for head energy and checkpoint choice.
    public var layerCount: Int
    public var cacheCapacityBytes: Int
    public var predictionCacheCapacity: Int
    /// Layers after which to keep intermediate checkpoints (only those below the freeze point are asked
    /// for); they make later freeze-point moves cheaper at the price of cache bytes.
    public var checkpointLayers: [Int]
    public var flush: FlushPolicy
    /// At most this many samples per feature batch.
    public var maximumBatchSize: Int
    public var outboxCapacity: Int
    public var retry: Outbox.RetryPolicy
    /// How often to ask the registry for a newer head.
    public var headPullInterval: Duration
    /// The CPU, radio and idle power that turn executed FLOPs and sent bytes into seconds and joules.
    public var profile: DeviceProfile
    public var battery: BatteryModel
    /// When set, a pulled head replaces the running one only if it wins on the phone's validation share
    /// (annotated samples this gate picks, which are then never uploaded); nil: every fitting head is taken.
    public var headSwapGate: HeadSwapGate?
    /// Whether head pulls ask for a delta against the head in use (docs/PROTOCOL.md, "Head deltas").
    public var headDeltas: Bool

    public init(
        layerCount: Int, cacheCapacityBytes: Int = 64 << 20, predictionCacheCapacity: Int = 256,
        checkpointLayers: [Int] = [], flush: FlushPolicy = FlushPolicy(), maximumBatchSize: Int = 64,
        outboxCapacity: Int = 4, retry: Outbox.RetryPolicy = Outbox.RetryPolicy(),
        headPullInterval: Duration = .seconds(60), profile: DeviceProfile = .phoneOnLTE,
        battery: BatteryModel = BatteryModel(capacityJoules: 40_000, levelJoules: 40_000),
        headSwapGate: HeadSwapGate? = nil, headDeltas: Bool = true
    ) {
        precondition(layerCount >= 2 && maximumBatchSize > 0, "a device needs a split model and a positive batch size")
        self.layerCount = layerCount
        self.cacheCapacityBytes = cacheCapacityBytes
        self.predictionCacheCapacity = predictionCacheCapacity
        self.checkpointLayers = checkpointLayers.sorted()
        self.flush = flush
        self.maximumBatchSize = maximumBatchSize
        self.outboxCapacity = outboxCapacity
        self.retry = retry
        self.headPullInterval = headPullInterval
        self.profile = profile
        self.battery = battery
        self.headSwapGate = headSwapGate
        self.headDeltas = headDeltas
    }
}
