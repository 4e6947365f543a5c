import CoreMetrics
import Synchronization
import ThawWire

/// The swift-metrics backend of one node: every counter, gauge, meter and timer the node's code
/// creates through it is kept here and published as one ``MetricsReport`` on the node's metrics PUB.
///
/// A node passes its ``NodeMetrics`` as the `factory:` of each `Counter`, `Gauge`, `Meter` and `Timer`
/// it declares, so a metric is declared once, where it is counted, and nothing is global: several
/// nodes in one test process keep apart, and no `MetricsSystem.bootstrap` is needed (a process may
/// still bootstrap another backend for its own use).
///
/// Names: the metric's label, with each dimension appended as `.<value>` in declaration order
/// (`refused.router.malformed`), which is the dotted form the monitor and docs/PROTOCOL.md list.
///
/// Thread rule: any thread or task may update a metric (one `Mutex` guards all values); it holds no socket.
public final class NodeMetrics: MetricsFactory, Sendable {
    public let node: String
    public let role: String
    private let state = Mutex(Values())

    struct Values {
        var counters: [String: UInt64] = [:]
        var gauges: [String: Double] = [:]
    }

    public init(node: String, role: String) {
        self.node = node
        self.role = role
    }

    /// Everything counted so far, stamped now, plus `extra` (values a node computes when it reports,
    /// such as rates since start).
    public func report(gauges extra: [String: Double] = [:], counters more: [String: UInt64] = [:]) -> MetricsReport {
        let values = state.withLock { $0 }
        return MetricsReport(
            node: node, role: role, timestampMs: WallClock.nowMs(),
            gauges: values.gauges.merging(extra) { $1 }, counters: values.counters.merging(more) { $1 })
    }

    /// Every counter whose name starts with `prefix`.
    public func counters(prefix: String) -> [String: UInt64] {
        state.withLock { $0.counters.filter { $0.key.hasPrefix(prefix) } }
    }

    /// The current value of a counter (0 when it was never incremented), for tests and log lines.
    public func counter(_ name: String) -> UInt64 { state.withLock { $0.counters[name] ?? 0 } }

    /// The current value of a gauge, meter or timer (seconds), if any was recorded.
    public func gauge(_ name: String) -> Double? { state.withLock { $0.gauges[name] } }

    static func name(_ label: String, _ dimensions: [(String, String)]) -> String {
        dimensions.reduce(label) { "\($0).\($1.1)" }
    }

    // MARK: MetricsFactory

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        let name = Self.name(label, dimensions)
        state.withLock { if $0.counters[name] == nil { $0.counters[name] = 0 } }
        return CounterBox(name: name, metrics: self)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        GaugeBox(name: Self.name(label, dimensions), metrics: self)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        GaugeBox(name: Self.name(label, dimensions), metrics: self)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        GaugeBox(name: Self.name(label, dimensions), metrics: self)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        GaugeBox(name: Self.name(label, dimensions), metrics: self)
    }

    public func destroyCounter(_ handler: any CounterHandler) {}
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    public func destroyMeter(_ handler: any MeterHandler) {}
    public func destroyTimer(_ handler: any TimerHandler) {}

    fileprivate func add(_ amount: Int64, to name: String) {
        state.withLock { $0.counters[name, default: 0] &+= UInt64(clamping: amount) }
    }

    fileprivate func resetCounter(_ name: String) { state.withLock { $0.counters[name] = 0 } }

    fileprivate func update(_ name: String, _ change: (Double) -> Double) {
        state.withLock { $0.gauges[name] = change($0.gauges[name] ?? 0) }
    }
}

/// A counter's handle: an integer that only grows (until reset).
private final class CounterBox: CounterHandler, Sendable {
    let name: String
    let metrics: NodeMetrics
    init(name: String, metrics: NodeMetrics) {
        self.name = name
        self.metrics = metrics
    }
    func increment(by amount: Int64) { metrics.add(amount, to: name) }
    func reset() { metrics.resetCounter(name) }
}

/// One handle for every value-like metric: a gauge (last value), a meter (set, increment, decrement),
/// a floating-point counter (sum) and a timer (last duration, in seconds).
private final class GaugeBox: RecorderHandler, MeterHandler, FloatingPointCounterHandler, TimerHandler, Sendable {
    let name: String
    let metrics: NodeMetrics
    init(name: String, metrics: NodeMetrics) {
        self.name = name
        self.metrics = metrics
    }
    func record(_ value: Int64) { metrics.update(name) { _ in Double(value) } }
    func record(_ value: Double) { metrics.update(name) { _ in value } }
    func set(_ value: Int64) { record(value) }
    func set(_ value: Double) { record(value) }
    func increment(by amount: Double) { metrics.update(name) { $0 + amount } }
    func decrement(by amount: Double) { metrics.update(name) { $0 - amount } }
    func reset() { metrics.update(name) { _ in 0 } }
    func recordNanoseconds(_ duration: Int64) { metrics.update(name) { _ in Double(duration) / 1e9 } }
}
