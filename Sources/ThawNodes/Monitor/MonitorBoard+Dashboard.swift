import Foundation
import ThawWire

/// What the live dashboard shows, as one JSON document the page receives every second.
package struct DashboardState: Sendable, Codable, Equatable {
    package struct Deployment: Sendable, Codable, Equatable {
        package var modelVersion: UInt64
        package var modelHash: String
        package var freezePoint: UInt32
        package var epoch: UInt64
    }
    package struct User: Sendable, Codable, Equatable {
        package var device: String
        package var user: String
        package var accuracyBefore: Double?
        package var accuracy: Double?
        package var headsSwapped: UInt64
        package var hitRate: Double?
        package var energyJoules: Double?
        package var battery: Double?
        package var cacheEntries: Double?
    }
    package struct Worker: Sendable, Codable, Equatable {
        package var node: String
        package var batchesPerSecond: Double?
        package var samplesPerSecond: Double?
        package var loss: Double?
        package var commits: UInt64
        package var conflicts: UInt64
    }
    package struct Refusing: Sendable, Codable, Equatable {
        package var node: String
        package var role: String
        package var refused: UInt64
        package var reasons: String
    }
    package struct Latency: Sendable, Codable, Equatable {
        package var node: String
        package var milliseconds: Double
    }

    package var updatedMs: UInt64
    package var heartbeats: UInt64
    package var deployment: Deployment?
    package var changes: [MonitorBoard.DeploymentChange]
    package var nodes: [String: String]
    package var users: [User]
    package var workers: [Worker]
    package var refusing: [Refusing]
    package var totalRefused: UInt64
    /// Broadcast-to-eviction latency per reporting node: the gauge `deployment_apply_latency_ms`
    /// (docs/MONITORING.md); empty while no node publishes it.
    package var latency: [Latency]
    package var history: MonitorHistory

    package func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Inf", negativeInfinity: "-Inf", nan: "NaN")
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

extension MonitorBoard {
    /// The gauge a device (or fleet) publishes with how long after the coordinator's broadcast its
    /// phones had applied the change (evicted or rebuilt their caches).
    package static let latencyGauge = "deployment_apply_latency_ms"

    /// The dashboard's view; `maxUsers` bounds the per-user table of a run with many phones.
    package func dashboard(nowMs: UInt64 = WallClock.nowMs(), maxUsers: Int = 200) -> DashboardState {
        let devices = reports(role: "device")
        return DashboardState(
            updatedMs: nowMs, heartbeats: heartbeats,
            deployment: deployment.map {
                .init(modelVersion: $0.modelVersion, modelHash: $0.modelHash, freezePoint: $0.freezePoint, epoch: $0.epoch)
            },
            changes: changes,
            nodes: Dictionary(uniqueKeysWithValues: reports.values.map { ($0.node, $0.role) }),
            users: devices.prefix(maxUsers).map { report in
                DashboardState.User(
                    device: report.node, user: Self.user(report), accuracyBefore: report.gauges["accuracy_before"],
                    accuracy: report.gauges["accuracy"], headsSwapped: report.counters["heads_swapped"] ?? 0,
                    hitRate: report.gauges["prediction_hit_rate"], energyJoules: report.gauges["energy_joules"],
                    battery: report.gauges["battery_percent"], cacheEntries: report.gauges["cache_entries"])
            },
            workers: reports(role: "worker").map { report in
                DashboardState.Worker(
                    node: report.node, batchesPerSecond: batchRate(report.node), samplesPerSecond: report.gauges["samples_per_s"],
                    loss: report.gauges["loss"], commits: report.counters["commits"] ?? 0,
                    conflicts: report.counters["conflicts"] ?? 0)
            },
            refusing: reports.values.filter { ($0.counters["refused"] ?? 0) > 0 }.sorted { $0.node < $1.node }.map {
                DashboardState.Refusing(
                    node: $0.node, role: $0.role, refused: $0.counters["refused"] ?? 0, reasons: Self.topReasons($0.counters))
            },
            totalRefused: totalRefused,
            latency: reports.values.compactMap { report in
                report.gauges[Self.latencyGauge].map { DashboardState.Latency(node: report.node, milliseconds: $0) }
            }.sorted { $0.node < $1.node },
            history: history)
    }
}
