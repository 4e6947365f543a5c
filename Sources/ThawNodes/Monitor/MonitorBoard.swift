import Foundation
import ThawWire

/// What a monitor knows: the deployment state, its history, the latest metrics of every node and a
/// bounded history of the numbers the dashboard charts. Pure: messages and times in, views out
/// (a table, JSON lines, the Prometheus text format, the dashboard's JSON state).
package struct MonitorBoard: Sendable {
    package var deployment: WireDeploymentState?
    package var heartbeats: UInt64 = 0
    /// The latest report of every node (by node name); an older report never replaces a newer one.
    package var reports: [String: MetricsReport] = [:]
    /// The report before the latest, per node, for rates computed from counter deltas.
    package var previous: [String: MetricsReport] = [:]
    /// Deployment changes seen, oldest first (deduplicated: a hub replays them to late monitors).
    package var changes: [DeploymentChange] = []
    /// The charted numbers over time.
    package var history = MonitorHistory()

    /// One model announcement or freeze-point move.
    package struct DeploymentChange: Sendable, Hashable, Codable {
        package var kind: String
        package var modelVersion: UInt64
        package var freezePoint: UInt32
        package var epoch: UInt64
        /// When this monitor first heard of it (wall clock, ms).
        package var seenMs: UInt64
    }

    package init() {}

    package mutating func record(_ message: ThawMessage, nowMs: UInt64 = WallClock.nowMs()) {
        switch message {
        case .heartbeat(let beat):
            // A change whose broadcast this monitor missed (it attached late, or its hub was down)
            // still shows in the history: the heartbeat carries a newer epoch with another state.
            if let known = deployment, beat.state.epoch > known.epoch {
                if beat.state.modelVersion != known.modelVersion || beat.state.modelHash != known.modelHash {
                    noteChange("model", beat.state, nowMs)
                } else if beat.state.freezePoint != known.freezePoint {
                    noteChange("freeze", beat.state, nowMs)
                }
            }
            deployment = beat.state
            heartbeats = beat.counter
        case .modelAnnounce(let announce):
            deployment = announce.state
            noteChange("model", announce.state, nowMs)
        case .freezePointChange(let change):
            deployment = change.state
            noteChange("freeze", change.state, nowMs)
        case .metrics(let report):
            if let latest = reports[report.node] {
                guard report.timestampMs >= latest.timestampMs else { return }
                if report.timestampMs > latest.timestampMs { previous[report.node] = latest }
            }
            reports[report.node] = report
        default: break
        }
    }

    private mutating func noteChange(_ kind: String, _ state: WireDeploymentState, _ nowMs: UInt64) {
        guard !changes.contains(where: { $0.kind == kind && $0.epoch == state.epoch }) else { return }
        changes.append(
            DeploymentChange(
                kind: kind, modelVersion: state.modelVersion, freezePoint: state.freezePoint, epoch: state.epoch,
                seenMs: nowMs))
        changes.sort { $0.epoch < $1.epoch }
        if changes.count > 64 { changes.removeFirst(changes.count - 64) }
    }

    /// Batches per second of a node between its last two reports (counter `batches`), if known.
    package func batchRate(_ node: String) -> Double? {
        guard let now = reports[node], let before = previous[node], now.timestampMs > before.timestampMs,
            let b1 = now.counters["batches"], let b0 = before.counters["batches"], b1 >= b0
        else { return nil }
        return Double(b1 - b0) / (Double(now.timestampMs - before.timestampMs) / 1000)
    }

    package func reports(role: String) -> [MetricsReport] {
        reports.values.filter { $0.role == role }.sorted { $0.node < $1.node }
    }

    /// Adds a point to the history when `interval` passed since the last one.
    package mutating func sample(nowMs: UInt64, everyMs interval: UInt64 = 1000) {
        if let last = history.times.last, nowMs < last + interval { return }
        var workers: [String: Double] = [:]
        for report in reports(role: "worker") {
            workers[report.node] = batchRate(report.node) ?? 0
        }
        var accuracies: [String: Double] = [:]
        for report in reports(role: "device") { accuracies[Self.user(report)] = report.gauges["accuracy"] }
        history.append(
            timeMs: nowMs, workers: workers, accuracy: accuracies, refused: totalRefused,
            freezePoint: deployment.map { Double($0.freezePoint) })
    }

    /// The user a device report speaks for (label `user`, else the node name).
    package static func user(_ report: MetricsReport) -> String { report.labels["user"] ?? report.node }

    /// Refusals counted by every node (`refused` counters).
    package var totalRefused: UInt64 { reports.values.reduce(0) { $0 &+ ($1.counters["refused"] ?? 0) } }

    // MARK: - The table

    package func render() -> String {
        var lines: [String] = []
        if let deployment {
            lines.append(
                "deployment: model v\(deployment.modelVersion) (\(deployment.modelHash.prefix(12))) "
                    + "freeze k=\(deployment.freezePoint) epoch \(deployment.epoch) heartbeat #\(heartbeats)")
        } else {
            lines.append("deployment: (no heartbeat yet)")
        }
        let devices = reports(role: "device")
        if !devices.isEmpty {
            lines.append(Self.row(["device", "user", "battery%", "cache", "hit-rate", "outbox", "acc-before", "acc-now", "heads", "rejected"]))
            for report in devices {
                lines.append(
                    Self.row([
                        report.node, report.labels["user"] ?? "-", Self.number(report.gauges["battery_percent"], 1),
                        Self.number(report.gauges["cache_entries"], 0), Self.number(report.gauges["prediction_hit_rate"], 2),
                        Self.number(report.gauges["outbox"], 0), Self.number(report.gauges["accuracy_before"], 3),
                        Self.number(report.gauges["accuracy"], 3), "\(report.counters["heads_swapped"] ?? 0)",
                        "\(report.counters["heads_rejected"] ?? 0)",
                    ]))
            }
        }
        let workers = reports(role: "worker")
        if !workers.isEmpty {
            lines.append(Self.row(["worker", "batches/s", "samples/s", "loss", "commits", "conflicts", "stale", "dupes"]))
            for report in workers {
                lines.append(
                    Self.row([
                        report.node, Self.number(report.gauges["batches_per_s"], 2),
                        Self.number(report.gauges["samples_per_s"], 1), Self.number(report.gauges["loss"], 4),
                        "\(report.counters["commits"] ?? 0)", "\(report.counters["conflicts"] ?? 0)",
                        "\(report.counters["rejected_stale"] ?? 0)", "\(report.counters["duplicates"] ?? 0)",
                    ]))
            }
        }
        let refusing = reports.values.filter { ($0.counters["refused"] ?? 0) > 0 }.sorted { $0.node < $1.node }
        if !refusing.isEmpty {
            lines.append(Self.row(["refusing", "role", "refused", "top reasons"]))
            for report in refusing {
                lines.append(
                    Self.row([
                        report.node, report.role, "\(report.counters["refused"] ?? 0)",
                        Self.topReasons(report.counters),
                    ]))
            }
        }
        return lines.joined(separator: "\n") + "\n\n"
    }

    /// `reason=count` for the three most frequent refusal reasons (`refused.<reason>` counters whose
    /// name is not a socket).
    package static func topReasons(_ counters: [String: UInt64]) -> String {
        let sockets: Set<String> = ["router", "pull", "sub", "dealer", "control", "metrics", "watch"]
        let reasons = counters.compactMap { key, value -> (String, UInt64)? in
            let parts = key.split(separator: ".")
            guard parts.count == 2, parts[0] == "refused", !sockets.contains(String(parts[1])) else { return nil }
            return (String(parts[1]), value)
        }
        return reasons.sorted { ($0.1, $1.0) > ($1.1, $0.0) }.prefix(3).map { "\($0.0)=\($0.1)" }
            .joined(separator: " ")
    }

    static func row(_ cells: [String]) -> String {
        cells.map { $0.padding(toLength: max(10, $0.count), withPad: " ", startingAt: 0) }.joined(separator: " ")
    }

    static func number(_ value: Double?, _ digits: Int) -> String {
        guard let value else { return "-" }
        return String(format: "%.\(digits)f", value)
    }

    // MARK: - JSON lines

    /// One line per received message a machine may care about (`--json`).
    package static func jsonLine(_ message: ThawMessage) -> String? {
        var object: [String: Any] = ["kind": "\(message.kind)"]
        switch message {
        case .metrics(let report):
            object["node"] = report.node
            object["role"] = report.role
            // JSON has no NaN or infinity; a diverged loss is shown as a string instead of dropping the line.
            object["gauges"] = report.gauges.mapValues { $0.isFinite ? $0 as Any : "\($0)" as Any }
            object["counters"] = report.counters
            object["labels"] = report.labels
        case .heartbeat(let beat):
            object["model_version"] = beat.state.modelVersion
            object["freeze_point"] = beat.state.freezePoint
            object["epoch"] = beat.state.epoch
        case .freezePointChange(let change):
            object["freeze_point"] = change.state.freezePoint
            object["from"] = change.fromFreezePoint
        case .modelAnnounce(let announce):
            object["model_version"] = announce.state.modelVersion
        case .invalidation(let invalidation):
            object["samples"] = invalidation.sampleIDs.count
        default:
            return nil
        }
        return json(object)
    }

    /// The board in one line (`"kind":"board"`), printed every interval by a `--json` monitor: the
    /// deployment, the changes seen, and every node with its role, so two monitors can be compared.
    package func boardLine() -> String? {
        var object: [String: Any] = [
            "kind": "board", "heartbeats": heartbeats,
            "nodes": reports.values.sorted { $0.node < $1.node }.map { ["node": $0.node, "role": $0.role] },
            "changes": changes.map { ["kind": $0.kind, "epoch": $0.epoch, "freeze_point": $0.freezePoint, "model_version": $0.modelVersion] },
        ]
        if let deployment {
            object["deployment"] = [
                "model_version": deployment.modelVersion, "model_hash": deployment.modelHash,
                "freeze_point": deployment.freezePoint, "epoch": deployment.epoch,
            ]
        }
        return Self.json(object)
    }

    static func json(_ object: [String: Any]) -> String? {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
