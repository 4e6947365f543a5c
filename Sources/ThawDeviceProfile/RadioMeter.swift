/// The radio's state over time: turns transfers at given instants into promotion, transfer and tail
/// charges, with the tail cut short when the next transfer starts before it ends.
///
/// A pure value: the caller passes the time in seconds (a wall clock in a device process, a simulated clock
/// in the benchmark). Tail energy accrues after a transfer; it is charged up to the instant the caller
/// next transfers or settles, and never beyond the profile's tail length, after which the radio is idle and
/// the next transfer pays a promotion again ([Huang12] §4: the tail is the time the radio stays in
/// RRC_CONNECTED after the last packet).
public struct RadioMeter: Sendable {
    /// What one call charged.
    public struct Charge: Sendable, Equatable {
        public var transferJoules = 0.0
        public var transferSeconds = 0.0
        public var tailJoules = 0.0
        public var tailSeconds = 0.0

        public init() {}
    }

    public let profile: RadioProfile
    /// End of the last transfer while its tail runs; nil once the radio is idle.
    private var tailStart: Double?
    /// Seconds of the running tail already charged.
    private var tailCharged = 0.0

    public init(profile: RadioProfile) { self.profile = profile }

    /// Whether the radio is in its high-power tail at `now`.
    public func isConnected(at now: Double) -> Bool {
        guard let tailStart else { return false }
        return now - tailStart < profile.tailSeconds
    }

    /// A transfer of `bytesUp` then `bytesDown` requested at `start` seconds: charges the tail of the previous
    /// transfer up to then, a promotion if the radio had gone idle, and the transfer itself. A transfer
    /// requested while the previous one is still on the air starts after it.
    /// - Returns: the charges and the instant the transfer ends.
    public mutating func transfer(bytesUp: Int, bytesDown: Int, at start: Double) -> (charge: Charge, end: Double) {
        var charge = settle(at: start)
        let begin = max(start, tailStart ?? start)
        let promoting = tailStart == nil
        if promoting {
            charge.transferSeconds += profile.promotionSeconds
            charge.transferJoules += profile.promotionSeconds * profile.promotionWatts
        }
        let seconds = profile.transferSeconds(bytesUp: bytesUp, bytesDown: bytesDown)
        charge.transferSeconds += seconds
        charge.transferJoules += profile.transferJoules(bytesUp: bytesUp, bytesDown: bytesDown)
        let end = begin + (promoting ? profile.promotionSeconds : 0) + seconds
        tailStart = end
        tailCharged = 0
        return (charge, end)
    }

    /// Charges the tail accrued since the last call, up to `now` and at most the profile's tail length.
    public mutating func settle(at now: Double) -> Charge {
        var charge = Charge()
        guard let start = tailStart else { return charge }
        let elapsed = min(max(0, now - start), profile.tailSeconds)
        let newly = max(0, elapsed - tailCharged)
        charge.tailSeconds = newly
        charge.tailJoules = newly * profile.tailWatts
        tailCharged = elapsed
        if elapsed >= profile.tailSeconds { tailStart = nil }
        return charge
    }

    /// Charges the whole remaining tail (the radio will not be used again, e.g. at the end of a run).
    public mutating func finish() -> Charge {
        guard let start = tailStart else { return Charge() }
        return settle(at: start + profile.tailSeconds)
    }
}
