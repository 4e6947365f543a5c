/// A phone battery as an energy reservoir: drained by compute and radio, refilled by a charger.
///
/// The level never leaves `[0, capacity]`: a drain larger than what is left empties the battery and
/// reports only what was actually available; charging stops at full.
public struct BatteryModel: Sendable, Equatable {
    public let capacityJoules: Double
    public private(set) var levelJoules: Double
    /// Charger power in watts when plugged in, `nil` on battery.
    public var chargingWatts: Double?

    /// - Precondition: `capacityJoules > 0` and `0 <= levelJoules <= capacityJoules`.
    public init(capacityJoules: Double, levelJoules: Double, chargingWatts: Double? = nil) {
        precondition(capacityJoules > 0, "battery capacity must be positive")
        precondition((0...capacityJoules).contains(levelJoules), "battery level must lie in [0, capacity]")
        self.capacityJoules = capacityJoules
        self.levelJoules = levelJoules
        self.chargingWatts = chargingWatts
    }

    /// Level as a percentage of capacity, 0...100.
    public var percent: Double { levelJoules / capacityJoules * 100 }

    public var isCharging: Bool { (chargingWatts ?? 0) > 0 }

    /// Removes up to `joules`; returns the amount actually drained (less when the battery runs empty).
    @discardableResult
    public mutating func drain(_ joules: Double) -> Double {
        precondition(joules >= 0, "a drain cannot be negative")
        let drained = min(joules, levelJoules)
        levelJoules -= drained
        return drained
    }

    /// Adds the charger's energy over `elapsed`; returns the joules actually stored (0 when unplugged or full).
    @discardableResult
    public mutating func charge(over elapsed: Duration) -> Double {
        guard let watts = chargingWatts, watts > 0 else { return 0 }
        let stored = min(watts * elapsed.secondsValue, capacityJoules - levelJoules)
        levelJoules += stored
        return stored
    }
}
