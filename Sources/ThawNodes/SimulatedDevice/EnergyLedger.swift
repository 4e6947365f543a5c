/// Joules spent by a device, by category, for the monitor and the energy experiments.
public struct EnergyLedger: Sendable, Equatable {
    public enum Category: String, Sendable, CaseIterable {
        /// Running backbone layers.
        case compute
        /// Sending or receiving bytes.
        case radioTransfer
        /// The radio staying in its high-power state after a transfer.
        case radioTail
        /// Baseline drain while nothing else happens.
        case idle
    }

    public private(set) var joules: [Category: Double] = [:]

    public init() {}

    public mutating func record(_ amount: Double, as category: Category) {
        precondition(amount >= 0, "energy spent cannot be negative")
        joules[category, default: 0] += amount
    }

    public subscript(category: Category) -> Double { joules[category, default: 0] }

    public var total: Double { joules.values.reduce(0, +) }
}
