import ThawNN

/// Joules and device seconds spent by a device, by category, plus the work that caused them (FLOPs executed,
/// bytes on the radio), for the monitor and the energy experiments.
///
/// The amounts come from a ``DeviceProfile``: FLOPs × joules per FLOP for compute, [Huang12]'s power model
/// for the radio (see ``RadioMeter``), the idle power for the rest.
public struct EnergyLedger: Sendable, Equatable {
    public enum Category: String, Sendable, CaseIterable {
        /// Running layers (backbone, head, local training).
        case compute
        /// Sending or receiving bytes, including the promotion out of radio idle.
        case radioTransfer
        /// The radio staying in its high-power state after a transfer.
        case radioTail
        /// Baseline drain while nothing else happens.
        case idle
    }

    public private(set) var joules: [Category: Double] = [:]
    /// Device seconds spent per category (compute time, time on the air, tail time, idle time).
    public private(set) var seconds: [Category: Double] = [:]
    /// FLOPs executed on the device.
    public private(set) var flops = FLOPCount()
    public private(set) var bytesUp = 0
    public private(set) var bytesDown = 0

    public init() {}

    public mutating func record(_ amount: Double, seconds duration: Double = 0, as category: Category) {
        precondition(amount >= 0 && duration >= 0, "energy and time spent cannot be negative")
        joules[category, default: 0] += amount
        seconds[category, default: 0] += duration
    }

    /// Adds the work behind a charge.
    public mutating func count(flops executed: FLOPCount = FLOPCount(), bytesUp up: Int = 0, bytesDown down: Int = 0) {
        flops = flops + executed
        bytesUp += up
        bytesDown += down
    }

    public subscript(category: Category) -> Double { joules[category, default: 0] }

    public var total: Double { joules.values.reduce(0, +) }

    /// Flat metric names and values: `energy_<category>_joules`, `time_<category>_seconds`, `flops`, bytes.
    public var metrics: [String: Double] {
        var values: [String: Double] = [
            "energy_joules": total, "flops": Double(flops.total), "radio_bytes_up": Double(bytesUp),
            "radio_bytes_down": Double(bytesDown),
        ]
        for category in Category.allCases {
            values["energy_\(category.rawValue)_joules"] = joules[category, default: 0]
            values["time_\(category.rawValue)_seconds"] = seconds[category, default: 0]
        }
        return values
    }
}
