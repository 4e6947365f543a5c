import ThawNN

/// When the coordinator thaws one more layer on its own.
///
/// Rule: move the freeze point one layer shallower (k → k−1) once the **median user** has at least
/// ``minimumMedianSamples`` samples stored at the current freeze point **and** the last move (or the
/// coordinator's start, if it never moved) is at least ``minimumInterval`` ago; never go below
/// ``minimumFreezePoint``. Why: a deeper head has more parameters and needs more per-user data to train
/// without overfitting, so layers are thawed only once a typical user has enough; the interval stops the
/// point from sliding while devices are still rebuilding after the previous move (their stored counts at
/// the new point start near zero, which is also natural hysteresis). Off by default.
public struct AutoFreezePolicy: Sendable, Equatable {
    public var isEnabled: Bool
    public var minimumMedianSamples: Int
    public var minimumInterval: Duration
    public var minimumFreezePoint: FreezePoint

    public init(
        isEnabled: Bool = false, minimumMedianSamples: Int = 200, minimumInterval: Duration = .seconds(600),
        minimumFreezePoint: FreezePoint = FreezePoint(1)
    ) {
        precondition(minimumFreezePoint.index >= 1, "the backbone keeps at least one layer")
        self.isEnabled = isEnabled
        self.minimumMedianSamples = minimumMedianSamples
        self.minimumInterval = minimumInterval
        self.minimumFreezePoint = minimumFreezePoint
    }

    /// The freeze point to move to, or `nil` to stay.
    /// - Parameters:
    ///   - storedSamples: samples stored per user at the current freeze point (users with none count as 0).
    ///   - since: the last move, or the coordinator's start.
    public func proposal(
        current: FreezePoint, storedSamples: [UserID: Int], since: Timestamp, now: Timestamp
    ) -> FreezePoint? {
        guard isEnabled, current.index - 1 >= minimumFreezePoint.index else { return nil }
        guard let median = Self.median(Array(storedSamples.values)), median >= Double(minimumMedianSamples) else {
            return nil
        }
        guard now.duration(since: since) >= minimumInterval else { return nil }
        return FreezePoint(current.index - 1)
    }

    /// The median of `values` (mean of the middle two for an even count), `nil` when empty.
    static func median(_ values: [Int]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? Double(sorted[middle]) : Double(sorted[middle - 1] + sorted[middle]) / 2
    }
}
