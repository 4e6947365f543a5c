/// A point in time, in whole milliseconds since an epoch the caller chooses (the glue passes wall-clock
/// milliseconds since 1970).
///
/// State machines never read a clock: every event that needs the time receives a `Timestamp`. It is a
/// plain integer rather than `ContinuousClock.Instant` because cache entries and the coordinator's last
/// freeze move are persisted and must still mean something after a restart.
public struct Timestamp: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var milliseconds: UInt64

    public init(milliseconds: UInt64) { self.milliseconds = milliseconds }

    public static let zero = Timestamp(milliseconds: 0)

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    /// This instant moved forward by `duration` (negative durations are a programmer error).
    public func advanced(by duration: Duration) -> Timestamp {
        Timestamp(milliseconds: milliseconds &+ duration.wholeMilliseconds)
    }

    /// The time from `earlier` to `self`, zero when `earlier` is later (clocks may step backwards).
    public func duration(since earlier: Timestamp) -> Duration {
        milliseconds >= earlier.milliseconds ? .milliseconds(milliseconds - earlier.milliseconds) : .zero
    }

    public var description: String { "t=\(milliseconds)ms" }
}

extension Duration {
    /// The duration in whole milliseconds, rounded down; negative durations trap.
    var wholeMilliseconds: UInt64 {
        let (seconds, attoseconds) = components
        precondition(seconds >= 0 && attoseconds >= 0, "durations between events cannot be negative")
        return UInt64(seconds) * 1000 + UInt64(attoseconds / 1_000_000_000_000_000)
    }

    /// The duration in seconds as a floating-point value, for energy arithmetic.
    package var secondsValue: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
