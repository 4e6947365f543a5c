import ThawNN

/// One simulated phone's clock and energy ledger, for the in-process comparison of Thaw and FedAvg.
///
/// Work is priced by a ``DeviceProfile``: executed FLOPs at the CPU's speed and energy per FLOP, transfers by
/// the radio model (promotion, throughput-dependent power, tail). The clock only moves forward with the
/// phone's own work or when the caller makes it wait (for a server); nothing runs concurrently on one phone.
public struct DeviceMeter: Sendable {
    public let profile: DeviceProfile
    public private(set) var ledger = EnergyLedger()
    public private(set) var radio: RadioMeter
    /// Simulated seconds on this phone's clock.
    public private(set) var clock: Double

    public init(profile: DeviceProfile, startingAt clock: Double = 0) {
        self.profile = profile
        self.radio = RadioMeter(profile: profile.radio)
        self.clock = clock
    }

    /// Runs `flops` on the CPU: the clock advances by their duration.
    public mutating func compute(_ flops: FLOPCount) {
        let seconds = profile.compute.seconds(flops: flops.total)
        ledger.count(flops: flops)
        ledger.record(profile.compute.joules(flops: flops.total), seconds: seconds, as: .compute)
        clock += seconds
    }

    /// Sends `bytesUp` then receives `bytesDown`: the clock advances to the end of the transfer.
    public mutating func transfer(bytesUp: Int, bytesDown: Int) {
        let (charge, end) = radio.transfer(bytesUp: bytesUp, bytesDown: bytesDown, at: clock)
        ledger.count(bytesUp: bytesUp, bytesDown: bytesDown)
        book(charge)
        clock = end
    }

    /// Waits until `time` (for the server or other phones); the radio tail runs meanwhile.
    public mutating func wait(until time: Double) {
        guard time > clock else { return }
        book(radio.settle(at: time))
        clock = time
    }

    /// The phone is done with the radio: the rest of the tail is charged.
    public mutating func finish() { book(radio.finish()) }

    private mutating func book(_ charge: RadioMeter.Charge) {
        ledger.record(charge.tailJoules, seconds: charge.tailSeconds, as: .radioTail)
        ledger.record(charge.transferJoules, seconds: charge.transferSeconds, as: .radioTransfer)
    }
}
