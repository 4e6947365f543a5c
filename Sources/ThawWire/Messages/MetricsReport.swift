/// Gauges, counters and labels one node publishes periodically (wire message `Metrics`).
public struct MetricsReport: Sendable, Equatable {
    public var node: String
    public var role: String
    public var timestampMs: UInt64
    public var gauges: [String: Double]
    public var counters: [String: UInt64]
    public var labels: [String: String]

    public init(
        node: String, role: String, timestampMs: UInt64, gauges: [String: Double] = [:],
        counters: [String: UInt64] = [:], labels: [String: String] = [:]
    ) {
        self.node = node
        self.role = role
        self.timestampMs = timestampMs
        self.gauges = gauges
        self.counters = counters
        self.labels = labels
    }
}
