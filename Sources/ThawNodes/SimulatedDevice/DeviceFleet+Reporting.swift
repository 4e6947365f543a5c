import CoreMetrics
import Logging
import ThawDeviceProfile
import ThawWire
import ThawZMQ

extension DeviceFleet {
    /// A phone is done when its stream has ended, everything it annotated is durable, it swapped in at
    /// least `goalHeads` heads, and two head pulls since its last acknowledgement found nothing newer to
    /// wait for (a worker trains within one pull interval here; a slower one only delays the goal).
    func phoneIsDone(_ phone: SimulatedPhone) -> Bool {
        guard phone.streamFinished, phone.evaluationsPending == 0, phone.rebuildsPending == 0, phone.headChecksPending == 0,
            phone.machine.pendingUploads.isEmpty, phone.machine.outbox.count == 0
        else {
            return false
        }
        if phone.machine.annotatedLabels.isEmpty { return true }
        // A head the gate declined was decided on just like one swapped in.
        let decided = phone.machine.statistics.headsSwapped + phone.machine.statistics.headsRejected
        return decided >= configuration.goalHeads && phone.settledPulls >= 2
    }

    mutating func announceGoalIfReached() {
        guard !goalAnnounced, !phones.isEmpty else { return }
        // At most every 200 ms: the check walks the fleet.
        let now = ContinuousClock.now
        if let last = lastGoalCheck, now - last < .milliseconds(200) { return }
        lastGoalCheck = now
        guard phones.allSatisfy(phoneIsDone) else { return }
        goalAnnounced = true
        StdoutLine.write(GoalLine(devices: phones.count))
        logger.info("goal reached", metadata: ["devices": "\(phones.count)"])
    }

    func report(phone index: Int) -> PhoneReport {
        let phone = phones[index]
        let machine = phone.machine
        let lookups = machine.predictions.hits + machine.predictions.misses
        return PhoneReport(
            device: phone.device.rawValue, user: phone.user.rawValue, samples: phone.cursor,
            annotated: machine.annotatedLabels.count, accuracyBefore: phone.baseAccuracy ?? 0,
            accuracyAfter: phone.accuracy ?? 0, headVersion: machine.head?.version ?? 0,
            headsSwapped: machine.statistics.headsSwapped, headsRejected: machine.statistics.headsRejected,
            batchesSent: machine.statistics.batchesSent,
            batchRetries: machine.statistics.batchRetries, bytesSent: phone.bytesSent,
            bytesReceived: phone.bytesReceived,
            energyJoules: Dictionary(uniqueKeysWithValues: machine.ledger.joules.map { ($0.key.rawValue, $0.value) }),
            ledger: machine.ledger.metrics,
            batteryPercent: machine.battery.percent, cacheEntries: machine.cache.count,
            predictionHitRate: lookups > 0 ? Double(machine.predictions.hits) / Double(lookups) : 0)
    }

    /// A unit of the fleet's task longer than this is logged: a broadcast arriving during it waits for it.
    static let busyThreshold: Duration = .milliseconds(10)

    /// Records how long the fleet's task was busy with one unit (an event or a slice): the longest since
    /// the last metrics round is the `fleet_task_busiest_ms` gauge, and one over ``busyThreshold`` is logged.
    ///
    /// - Parameter cpuStarted: the thread's CPU clock (``FleetCPU/threadSeconds()``) when the unit began;
    ///   given, the unit is named with the CPU time it used besides its wall time (`phone:16.1/cpu:0.4`):
    ///   a unit much longer than its CPU time was waiting for the processor (or for a suspension), not
    ///   working.
    mutating func noteBusy(
        _ kind: String, since started: ContinuousClock.Instant, cpuStarted: Double? = nil,
        threshold: Duration = DeviceFleet.busyThreshold
    ) {
        let ended = ContinuousClock.now
        let busy = ended - started
        let ms = Self.milliseconds(busy)
        busiestMs = max(busiestMs, ms)
        guard busy >= .milliseconds(1) else { return }
        let cpuMs = cpuStarted.map { (FleetCPU.threadSeconds() - $0) * 1000 }
        let name = cpuMs.map { "\(kind)/cpu:\(($0 * 10).rounded() / 10)" } ?? kind
        recentUnits.note(name, ms: ms, ended: ended)
        if busy > threshold {
            logger.info(
                "fleet task busy",
                metadata: ["unit": "\(kind)", "ms": "\(Int(ms))", "cpu.ms": "\(cpuMs.map { Int($0) } ?? -1)"])
        }
    }

    /// Most phones reported per metrics round (every 2 s): a large fleet is reported in turns.
    static let phonesPerMetricsRound = 250
    /// Most phones' reports encoded in one slice: a round is spread over slices, never one long unit.
    static let phonesPerMetricsSlice = 16

    /// Starts a metrics round: the process's own report now, its phones' a few per slice
    /// (``publishPhoneMetrics()``).
    mutating func publishMetrics() {
        counters.phones.record(phones.count)
        counters.inFlight.record(inFlight.count)
        counters.backlog.record(pullBacklog.count)
        counters.computeQueue.record(compute.pending)
        counters.backboneQueue.record(backboneQueue.count)
        counters.headChecks.record(headChecksQueued)
        counters.busiest.record(busiestMs)
        busiestMs = 0
        guard let metrics else { return }
        metricsRemaining = min(phones.count, Self.phonesPerMetricsRound)
        // The process's own report: its swift-metrics (refusals on its sockets included).
        if let frames = try? stamper.encodePublished(.metrics(nodeMetrics.report())) {
            _ = try? loop.trySend(frames, on: metrics)
        }
    }

    /// Reports the next few phones of the current round.
    mutating func publishPhoneMetrics() {
        guard let metrics, metricsRemaining > 0, !phones.isEmpty else { return }
        let round = min(metricsRemaining, Self.phonesPerMetricsSlice)
        metricsRemaining -= round
        for step in 0..<round {
            let index = (metricsCursor + step) % phones.count
            let report = report(phone: index)
            let message = ThawMessage.metrics(
                MetricsReport(
                    node: report.device, role: "device", timestampMs: WallClock.nowMs(),
                    gauges: report.ledger.merging([
                        "battery_percent": report.batteryPercent, "cache_entries": Double(report.cacheEntries),
                        "prediction_hit_rate": report.predictionHitRate, "accuracy": report.accuracyAfter,
                        "accuracy_before": report.accuracyBefore,
                        "outbox": Double(phones[index].machine.outbox.count),
                    ]) { _, ledger in ledger },
                    counters: [
                        "batches_sent": UInt64(report.batchesSent), "heads_swapped": UInt64(report.headsSwapped),
                        "heads_rejected": UInt64(report.headsRejected),
                        "bytes_sent": UInt64(report.bytesSent),
                    ],
                    labels: ["user": report.user]))
            guard let frames = try? stamper.encodePublished(message) else { continue }
            _ = try? loop.trySend(frames, on: metrics)
        }
        metricsCursor = (metricsCursor + round) % phones.count
    }
}

/// The device process's metrics, declared once with the node's ``NodeMetrics`` as their factory.
struct FleetCounters {
    let phones: Gauge
    let inFlight: Gauge
    let backlog: Gauge
    /// Jobs queued or running on the compute queue, and the head checks among them.
    let computeQueue: Gauge
    /// Backbone passes waiting for a batch.
    let backboneQueue: Gauge
    let headChecks: Gauge
    let headsAnnounced: Counter
    let headPulls: Counter
    /// Heads received as a delta against the running head and verified; deltas refused (then the full
    /// head was asked for); bytes of head replies received, deltas and full heads.
    let headDeltasApplied: Counter
    let headDeltasRefused: Counter
    let headDeltaBytes: Counter
    let headFullBytes: Counter
    let groupCommits: Counter
    let snapshotsCommitted: Counter
    let backbonePasses: Counter
    let backboneSamples: Counter
    /// The last deployment change's applied latency, p99 over the phones, in ms (the dashboard's
    /// broadcast-to-eviction panel reads it).
    let deploymentApplied: Gauge
    /// The longest unit of the fleet's task (an event or a slice) since the previous round, in ms.
    let busiest: Gauge

    init(_ metrics: NodeMetrics) {
        phones = Gauge(label: "phones", factory: metrics)
        inFlight = Gauge(label: "registry_in_flight", factory: metrics)
        backlog = Gauge(label: "pull_backlog", factory: metrics)
        computeQueue = Gauge(label: "compute_queue", factory: metrics)
        backboneQueue = Gauge(label: "backbone_queue", factory: metrics)
        headChecks = Gauge(label: "head_checks_queued", factory: metrics)
        headsAnnounced = Counter(label: "heads_announced", factory: metrics)
        headPulls = Counter(label: "head_pulls", factory: metrics)
        headDeltasApplied = Counter(label: "head_deltas_applied", factory: metrics)
        headDeltasRefused = Counter(label: "head_deltas_refused", factory: metrics)
        headDeltaBytes = Counter(label: "head_delta_bytes", factory: metrics)
        headFullBytes = Counter(label: "head_full_bytes", factory: metrics)
        groupCommits = Counter(label: "group_commits", factory: metrics)
        snapshotsCommitted = Counter(label: "snapshots_committed", factory: metrics)
        backbonePasses = Counter(label: "backbone_batches", factory: metrics)
        backboneSamples = Counter(label: "backbone_samples", factory: metrics)
        deploymentApplied = Gauge(label: "deployment_apply_latency_ms", factory: metrics)
        busiest = Gauge(label: "fleet_task_busiest_ms", factory: metrics)
    }
}

/// Printed once when every phone of the process reached the run's goal.
package struct GoalLine: Codable, Sendable {
    package var event = "goal-reached"
    package var devices: Int
}

/// Printed once per deployment change by a device process: how many cached entries its phones evicted
/// and how long after the coordinator sent the broadcast each phone had applied it (the eviction latency
/// the distributed benchmark reports, wall-clock milliseconds across processes on one host).
package struct DeploymentAppliedLine: Codable, Sendable {
    var event = "deployment-applied"
    var modelVersion: UInt64
    var freezePoint: Int
    var epoch: UInt64
    package var phones: Int
    package var evicted: Int
    package var latencyMs: LatencySummary
    /// From the send to each phone's own stale entries being dropped (the sweep after the change).
    package var sweptMs: LatencySummary? = nil
    /// From the send to the device process's reader having the broadcast (ms; wall clocks).
    package var receivedMs: Double? = nil
    /// From the reader to the fleet's task applying it (ms): the wait behind the task's units.
    package var queuedMs: Double? = nil
    /// The fleet task's units of 1 ms or more that ran while the broadcast waited ("kind:ms").
    package var waitedFor: [String]? = nil
}

/// The fleet task's last few units of 1 ms or more, to name what a broadcast waited for.
struct RecentUnits {
    private var units: [(kind: String, ms: Double, ended: ContinuousClock.Instant)] = []
    static let kept = 32

    mutating func note(_ kind: String, ms: Double, ended: ContinuousClock.Instant) {
        if units.count >= Self.kept { units.removeFirst() }
        units.append((kind, ms, ended))
    }

    /// The units that ended after `instant` (they ran, at least in part, while something waited).
    func overlapping(since instant: ContinuousClock.Instant) -> [String] {
        units.filter { $0.ended > instant }.map { "\($0.kind):\(($0.ms * 10).rounded() / 10)" }
    }
}

extension DeviceFleet {
    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}

/// Percentiles of a set of latencies (nearest-rank), in the unit they were given.
public struct LatencySummary: Codable, Sendable, Equatable {
    public var count: Int
    public var p50: Double
    public var p99: Double
    public var max: Double

    public init(_ values: [Double]) {
        let sorted = values.sorted()
        func rank(_ q: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            return sorted[min(sorted.count - 1, Swift.max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))]
        }
        count = sorted.count
        p50 = rank(0.5)
        p99 = rank(0.99)
        max = sorted.last ?? 0
    }
}
