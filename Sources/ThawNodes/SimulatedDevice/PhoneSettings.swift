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
    public var energy: DeviceConfiguration.EnergyCosts
    /// Bytes a phone may spend on activation checkpoints; with no explicit `checkpointLayers`,
    /// ``CheckpointPlacement`` picks the layers (0 disables checkpoints).
    public var checkpointBudgetBytes: Int = 1 << 20
    /// Compute energy price for checkpoint placement. A placeholder until a cited device profile
    /// (issue 5) provides one; only the *ranking* of plans depends on it, not which plan wins, as long as
    /// storing a byte is priced at zero.
    public var joulesPerFLOP: Double = 1e-10

    public init(
        flush: FlushPolicy = FlushPolicy(), batteryCapacityJoules: Double = 40_000, initialBatteryLevel: Double = 1.0,
        headPullInterval: Duration = .seconds(2), checkpointLayers: [Int] = [], maximumBatchSize: Int = 64,
        energy: DeviceConfiguration.EnergyCosts = DeviceConfiguration.EnergyCosts()
    ) {
        self.flush = flush
        self.batteryCapacityJoules = batteryCapacityJoules
        self.initialBatteryLevel = initialBatteryLevel
        self.headPullInterval = headPullInterval
        self.checkpointLayers = checkpointLayers
        self.maximumBatchSize = maximumBatchSize
        self.energy = energy
    }

    func deviceConfiguration(layerCount: Int) -> DeviceConfiguration {
        DeviceConfiguration(
            layerCount: layerCount, checkpointLayers: checkpointLayers, flush: flush,
            maximumBatchSize: maximumBatchSize, headPullInterval: headPullInterval, energy: energy,
            battery: BatteryModel(
                capacityJoules: batteryCapacityJoules, levelJoules: batteryCapacityJoules * initialBatteryLevel))
    }
}
