import Foundation
import ThawWire

/// The latest metrics of every node and the deployment state, rendered as a table.
struct MonitorBoard {
    var deployment: WireDeploymentState?
    var heartbeats: UInt64 = 0
    var reports: [String: MetricsReport] = [:]

    mutating func record(_ message: ThawMessage) {
        switch message {
        case .heartbeat(let beat):
            deployment = beat.state
            heartbeats = beat.counter
        case .modelAnnounce(let announce): deployment = announce.state
        case .freezePointChange(let change): deployment = change.state
        case .metrics(let report): reports[report.node] = report
        default: break
        }
    }

    func render() -> String {
        var lines: [String] = []
        if let deployment {
            lines.append(
                "deployment: model v\(deployment.modelVersion) (\(deployment.modelHash.prefix(12))) "
                    + "freeze k=\(deployment.freezePoint) epoch \(deployment.epoch) heartbeat #\(heartbeats)")
        } else {
            lines.append("deployment: (no heartbeat yet)")
        }
        let devices = reports.values.filter { $0.role == "device" }.sorted { $0.node < $1.node }
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
        let workers = reports.values.filter { $0.role == "worker" }.sorted { $0.node < $1.node }
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
    static func topReasons(_ counters: [String: UInt64]) -> String {
        let sockets: Set<String> = ["router", "pull", "sub", "dealer", "control", "metrics"]
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

    static func jsonLine(_ message: ThawMessage) -> String? {
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
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
