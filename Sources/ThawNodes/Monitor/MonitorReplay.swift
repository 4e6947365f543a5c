import ThawWire
import ThawZMQ

/// What a monitor hub re-publishes on its `watch` PUB so that a monitor attached late knows the whole
/// state within one heartbeat: the latest heartbeat, every node's latest metrics report and the recent
/// deployment changes, as the frames they arrived in (nothing is re-encoded, so what a late monitor
/// decodes is byte for byte what the publisher sent).
package struct MonitorReplay: Sendable {
    /// Changes kept for replay (model announcements and freeze moves); older ones fall off.
    package static let changesKept = 32

    private var heartbeat: [Frame]?
    private var reports: [String: (timestampMs: UInt64, frames: [Frame])] = [:]
    private var changes: [[Frame]] = []

    package init() {}

    /// Keeps `frames` (a message this hub received and forwarded) when it is part of the state.
    package mutating func keep(_ message: ThawMessage, frames: [Frame]) {
        switch message {
        case .heartbeat: heartbeat = frames
        case .modelAnnounce, .freezePointChange:
            changes.append(frames)
            if changes.count > Self.changesKept { changes.removeFirst(changes.count - Self.changesKept) }
        case .metrics(let report):
            if let kept = reports[report.node], kept.timestampMs > report.timestampMs { return }
            reports[report.node] = (report.timestampMs, frames)
        default: break
        }
    }

    /// The messages to re-publish, changes first (in order), then reports (by node), then the heartbeat.
    package var snapshot: [[Frame]] {
        changes + reports.sorted { $0.key < $1.key }.map(\.value.frames) + (heartbeat.map { [$0] } ?? [])
    }

    package var nodeCount: Int { reports.count }
}
