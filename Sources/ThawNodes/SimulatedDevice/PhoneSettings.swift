import ThawDeviceProfile
import ThawNN

/// The per-phone settings a topology gives; the layer count comes from the base model once it is
/// fetched, which is when a ``DeviceConfiguration`` can be made.
public struct PhoneSettings: Sendable {
    public var flush: FlushPolicy
    public var batteryCapacityJoules: Double
    public var initialBatteryLevel: Double
    public var headPullInterval: Duration
    public var checkpointLayers: [Int]
    public var maximumBatchSize: Int
    public var profile: DeviceProfile
    /// Bytes a phone may spend on activation checkpoints; with no explicit `checkpointLayers`,
    /// ``CheckpointPlacement`` picks the layers (0 disables checkpoints), pricing recomputation with the
    /// profile's joules per FLOP.
    public var checkpointBudgetBytes: Int = 1 << 20
    /// A simulated phone's activation-cache budget: small, so that 10,000 phones fit in one process.
    /// Over it, the cache's own rules reclaim checkpoints, then prediction-only entries, then durable
    /// ones (docs/DEVICE.md); annotated entries not yet durable are never dropped for space.
    public var cacheCapacityBytes: Int = 256 << 10
    /// Prediction-only backbone outputs a simulated phone keeps (LRU).
    public var predictionCacheCapacity: Int = 8
    /// The gate a pulled head must pass before it replaces the running one (nil: take every fitting head).
    public var headSwapGate: HeadSwapGate? = HeadSwapGate()

    public init(
        flush: FlushPolicy = FlushPolicy(), batteryCapacityJoules: Double = 40_000, initialBatteryLevel: Double = 1.0,
        headPullInterval: Duration = .seconds(2), checkpointLayers: [Int] = [], maximumBatchSize: Int = 64,
        profile: DeviceProfile = .phoneOnLTE
    ) {
        self.flush = flush
        self.batteryCapacityJoules = batteryCapacityJoules
        self.initialBatteryLevel = initialBatteryLevel
        self.headPullInterval = headPullInterval
        self.checkpointLayers = checkpointLayers
        self.maximumBatchSize = maximumBatchSize
        self.profile = profile
    }

    func deviceConfiguration(layerCount: Int) -> DeviceConfiguration {
        DeviceConfiguration(
            layerCount: layerCount, cacheCapacityBytes: cacheCapacityBytes,
            predictionCacheCapacity: predictionCacheCapacity, checkpointLayers: checkpointLayers, flush: flush,
            maximumBatchSize: maximumBatchSize, headPullInterval: headPullInterval, profile: profile,
            battery: BatteryModel(
                capacityJoules: batteryCapacityJoules, levelJoules: batteryCapacityJoules * initialBatteryLevel),
            headSwapGate: headSwapGate)
    }
}
