import Foundation
import ThawWire

/// The board in the Prometheus text exposition format (version 0.0.4), served on `/metrics`.
///
/// Every node's latest ``MetricsReport`` becomes samples labelled `node` and `role` (plus the
/// report's own labels, e.g. `user` on a phone): a counter `refused.router` is exposed as
/// `thaw_refused_router_total`, a gauge `battery_percent` as `thaw_battery_percent`. One family's
/// samples are written together under one `# TYPE` line, as the format requires. The deployment is
/// exposed as `thaw_deployment_*` gauges, and `thaw_report_age_seconds` says how old each node's
/// latest report is (a node that stopped reporting keeps its last values and a growing age).
extension MonitorBoard {
    package func prometheus(nowMs: UInt64 = WallClock.nowMs()) -> String {
        struct Family {
            var type: String
            var help: String
            var samples: [String] = []
        }
        var families: [String: Family] = [:]
        func add(_ name: String, _ type: String, _ help: String, _ labels: [(String, String)], _ value: Double) {
            if families[name] == nil { families[name] = Family(type: type, help: help) }
            guard families[name]!.type == type else { return }  // a name used as both: the first type wins
            families[name]!.samples.append("\(name)\(Self.labelSet(labels)) \(Self.sampleValue(value))")
        }
        if let deployment {
            add("thaw_deployment_model_version", "gauge", "Model version of the deployment.", [], Double(deployment.modelVersion))
            add("thaw_deployment_freeze_point", "gauge", "Freeze point k: layers [0,k) are the frozen backbone.", [], Double(deployment.freezePoint))
            add("thaw_deployment_epoch", "gauge", "Deployment epoch, incremented on every change.", [], Double(deployment.epoch))
            add("thaw_deployment_info", "gauge", "The deployment's model hash as a label.", [("model_hash", deployment.modelHash)], 1)
        }
        add("thaw_heartbeats", "gauge", "The coordinator's latest heartbeat counter.", [], Double(heartbeats))
        add("thaw_deployment_changes_total", "counter", "Model announcements and freeze moves seen by this monitor.", [], Double(changes.count))
        for report in reports.values.sorted(by: { $0.node < $1.node }) {
            let labels = [("node", report.node), ("role", report.role)]
                + report.labels.sorted { $0.key < $1.key }.filter { $0.key != "node" && $0.key != "role" }
                    .map { (Self.metricName($0.key, prefix: ""), $0.value) }
            let age = nowMs >= report.timestampMs ? Double(nowMs - report.timestampMs) / 1000 : 0
            add("thaw_report_age_seconds", "gauge", "Seconds since the node's latest metrics report.", labels, age)
            for (key, value) in report.counters {
                add(Self.metricName(key) + "_total", "counter", "Counter \(key) of a Thaw role.", labels, Double(value))
            }
            for (key, value) in report.gauges {
                add(Self.metricName(key), "gauge", "Gauge \(key) of a Thaw role.", labels, value)
            }
        }
        var text = ""
        for (name, family) in families.sorted(by: { $0.key < $1.key }) {
            text += "# HELP \(name) \(family.help)\n# TYPE \(name) \(family.type)\n"
            for sample in family.samples.sorted() { text += sample + "\n" }
        }
        return text
    }

    /// `thaw_` plus the name with every character outside `[a-zA-Z0-9_]` turned into `_`.
    package static func metricName(_ raw: String, prefix: String = "thaw_") -> String {
        var name = prefix
        for scalar in raw.unicodeScalars {
            let ok = (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9") || scalar == "_"
            name.unicodeScalars.append(ok ? scalar : "_")
        }
        if let first = name.unicodeScalars.first, first >= "0" && first <= "9" { name = "_" + name }
        return name.isEmpty ? "_" : name
    }

    static func labelSet(_ labels: [(String, String)]) -> String {
        guard !labels.isEmpty else { return "" }
        let escaped = labels.map { key, value in
            let v = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n")
            return "\(key)=\"\(v)\""
        }
        return "{" + escaped.joined(separator: ",") + "}"
    }

    static func sampleValue(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
