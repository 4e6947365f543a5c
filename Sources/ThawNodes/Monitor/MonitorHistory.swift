/// The numbers a dashboard charts over time, one point per sample, at most ``capacity`` points
/// (older ones fall off), with at most ``maxSeries`` named series per chart so that a run with a
/// thousand phones keeps a bounded state.
package struct MonitorHistory: Sendable, Codable, Equatable {
    package static let capacity = 600
    package static let maxSeries = 32

    /// Wall-clock milliseconds of each point.
    package var times: [UInt64] = []
    /// Batches per second of each worker, one value per point (0 before the worker reported twice).
    package var workers: [String: [Double]] = [:]
    /// Held-out accuracy of each user (the first ``maxSeries`` users seen), `nil` where unknown.
    package var accuracy: [String: [Double?]] = [:]
    /// The mean held-out accuracy over every user reporting one.
    package var meanAccuracy: [Double?] = []
    /// Refusals counted by every node so far.
    package var refused: [UInt64] = []
    /// The freeze point broadcast by the coordinator.
    package var freezePoint: [Double?] = []

    package init() {}

    package mutating func append(
        timeMs: UInt64, workers rates: [String: Double], accuracy values: [String: Double], refused total: UInt64,
        freezePoint point: Double?
    ) {
        let index = times.count
        times.append(timeMs)
        for (name, rate) in rates where workers[name] != nil || workers.count < Self.maxSeries {
            workers[name, default: Array(repeating: 0, count: index)].append(rate)
        }
        for name in workers.keys where workers[name]!.count == index { workers[name]!.append(0) }
        for (name, value) in values where accuracy[name] != nil || accuracy.count < Self.maxSeries {
            accuracy[name, default: Array(repeating: nil, count: index)].append(value)
        }
        for name in accuracy.keys where accuracy[name]!.count == index { accuracy[name]!.append(nil) }
        meanAccuracy.append(values.isEmpty ? nil : values.values.reduce(0, +) / Double(values.count))
        refused.append(total)
        freezePoint.append(point)
        if times.count > Self.capacity { dropOldest(times.count - Self.capacity) }
    }

    private mutating func dropOldest(_ count: Int) {
        times.removeFirst(count)
        for name in workers.keys { workers[name]!.removeFirst(count) }
        for name in accuracy.keys { accuracy[name]!.removeFirst(count) }
        meanAccuracy.removeFirst(count)
        refused.removeFirst(count)
        freezePoint.removeFirst(count)
    }
}
