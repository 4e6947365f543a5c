/// When a device may upload its pending annotated activations.
///
/// Flush only when power allows it (battery above ``minimumBatteryPercent`` or charging) *and* there is
/// enough to send (at least ``minimumBatch`` pending samples, or the oldest pending one older than
/// ``maximumAge``, or a cache over its byte budget), and never while the outbox is full: a device whose
/// uploads are not acknowledged backs off instead of piling up batches.
public struct FlushPolicy: Sendable, Equatable {
    public var minimumBatteryPercent: Double
    public var minimumBatch: Int
    public var maximumAge: Duration

    public init(minimumBatteryPercent: Double = 20, minimumBatch: Int = 16, maximumAge: Duration = .seconds(300)) {
        self.minimumBatteryPercent = minimumBatteryPercent
        self.minimumBatch = minimumBatch
        self.maximumAge = maximumAge
    }

    public enum Decision: Sendable, Equatable {
        case flush
        case wait(Reason)
    }

    public enum Reason: Sendable, Equatable {
        case nothingPending
        case lowBattery
        case outboxFull
        case batchTooSmall
    }

    /// - Parameters:
    ///   - pending: pending samples ready to send.
    ///   - oldestPendingAge: age of the oldest of them.
    ///   - cacheOverCapacity: the activation cache holds more than its budget in not-yet-durable entries;
    ///     flushing is then the only way to free space, so the batch-size rule is waived.
    public func decide(
        batteryPercent: Double, charging: Bool, pending: Int, oldestPendingAge: Duration, outboxFull: Bool,
        cacheOverCapacity: Bool = false
    ) -> Decision {
        guard pending > 0 else { return .wait(.nothingPending) }
        guard batteryPercent > minimumBatteryPercent || charging else { return .wait(.lowBattery) }
        guard !outboxFull else { return .wait(.outboxFull) }
        guard pending >= minimumBatch || oldestPendingAge >= maximumAge || cacheOverCapacity else {
            return .wait(.batchTooSmall)
        }
        return .flush
    }
}
