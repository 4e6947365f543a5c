/// Settings of a device node: one process that simulates `count` phones.
public struct DeviceOptions: Hashable, Sendable {
    /// Which users the simulated phones belong to.
    public enum Users: Hashable, Sendable {
        /// Pick `count` users from the data set, deterministically from the topology seed.
        case auto
        /// Exactly these user ids, one per simulated device (the list length must equal `count`).
        case ids([String])
    }

    /// `users: auto` or a list of user ids.
    public var users: Users = .auto
    /// The fraction of a user's samples the user annotates (`annotation-share`, 0…1).
    public var annotationShare: Double = 0.25
    /// Whether each phone keeps a validation share of its annotated samples and swaps in a pulled head
    /// only when it is better on them (`head-swap-gate: on|off`, default on; docs/LEARNING.md). Tests
    /// that count swapped heads turn it off.
    public var headSwapGate: Bool = true
    /// Battery model (`battery:`).
    public var battery = BatterySettings()
    /// When a phone sends its cached activations (`flush:`).
    public var flush = FlushSettings()

    public init() {}
}

/// A simulated phone battery: running the backbone drains it; a low battery defers flushes.
public struct BatterySettings: Hashable, Sendable {
    /// Level at start, 0…1 (`initial-level`).
    public var initialLevel: Double = 1.0
    /// Level lost per backbone forward pass (`drain-per-sample`, 0…1).
    public var drainPerSample: Double = 0.001
    /// Below this level the phone stops flushing until it charges (`minimum-level`, 0…1).
    public var minimumLevel: Double = 0.2
    /// Level gained per second while charging (`charge-per-second`, 0…1).
    public var chargePerSecond: Double = 0.01

    public init() {}
}

/// Flush thresholds: a phone flushes when either is reached.
public struct FlushSettings: Hashable, Sendable {
    /// Cached annotated samples that trigger a flush (`samples`).
    public var samples: Int = 64
    /// Longest time a non-empty cache waits (`interval`).
    public var interval: Duration = .seconds(10)

    public init() {}
}
