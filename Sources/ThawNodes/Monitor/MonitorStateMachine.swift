import ThawWire
import ThawZMQ

/// The monitor's logic, pure: messages and times in, actions out; no sockets, no clocks.
///
/// A monitor either binds the metrics SUB every role publishes to (the topology's monitor node, the
/// *hub*) or attaches to a hub's `watch` PUB. A hub forwards every message it receives on `watch` and,
/// on every coordinator heartbeat (or every second without one), re-publishes its ``MonitorReplay``
/// snapshot there, so any number of monitors can attach at any time and know the full state within
/// one heartbeat. See docs/MONITORING.md.
package struct MonitorStateMachine: Sendable {
    package enum Action: Sendable, Equatable {
        /// Send these frames on the hub's `watch` PUB (never blocks; dropped at the high-water mark).
        case publish([Frame])
        /// Write this line (a JSON line, or the table) to standard output.
        case print(String)
    }

    package var board = MonitorBoard()
    package private(set) var replay = MonitorReplay()
    /// Whether this monitor re-publishes what it receives (it has a `watch` PUB).
    package let isHub: Bool
    package let json: Bool
    package let intervalMs: UInt64
    private var lastPrintMs: UInt64?
    private var lastReplayMs: UInt64 = 0
    private var lastHeartbeatMs: UInt64?
    private var lastOwnRefused: UInt64 = 0

    package init(isHub: Bool, json: Bool, intervalMs: UInt64) {
        self.isHub = isHub
        self.json = json
        self.intervalMs = intervalMs
    }

    /// A message arrived (already decoded and validated) in `frames`.
    package mutating func received(_ message: ThawMessage, frames: [Frame], nowMs: UInt64) -> [Action] {
        board.record(message, nowMs: nowMs)
        var actions: [Action] = []
        if json, let line = MonitorBoard.jsonLine(message) { actions.append(.print(line)) }
        guard isHub else { return actions }
        actions.append(.publish(frames))
        replay.keep(message, frames: frames)
        if case .heartbeat = message {
            lastHeartbeatMs = nowMs
            lastReplayMs = nowMs
            // The heartbeat itself was just forwarded; the rest of the state follows it.
            actions += replay.snapshot.filter { $0 != frames }.map { Action.publish($0) }
        }
        return actions
    }

    /// The periodic tick: the monitor's own report (`own`), history, the table or board line, and a
    /// hub's replay when no heartbeat came for two seconds (no coordinator in the topology, or it is down).
    package mutating func tick(nowMs: UInt64, own: MetricsReport, ownFrames: [Frame]?) -> [Action] {
        var actions: [Action] = []
        // A hub's report is part of the system (it publishes it); an attached monitor shows its own
        // only once it refused something, so attached monitors agree on the board.
        let refused = own.counters["refused"] ?? 0
        if isHub || refused > 0 { board.record(.metrics(own), nowMs: nowMs) }
        // A `--json` monitor prints its own report when its refusals changed (tests and tools read it).
        if json, refused != lastOwnRefused, let line = MonitorBoard.jsonLine(.metrics(own)) {
            lastOwnRefused = refused
            actions.append(.print(line))
        }
        if isHub, let ownFrames {
            actions.append(.publish(ownFrames))
            replay.keep(.metrics(own), frames: ownFrames)
        }
        board.sample(nowMs: nowMs)
        if isHub, nowMs >= lastReplayMs + 1000, lastHeartbeatMs.map({ nowMs >= $0 + 2000 }) ?? true {
            lastReplayMs = nowMs
            actions += replay.snapshot.map { Action.publish($0) }
        }
        // Nothing to show before the first message (an attached monitor has the state one heartbeat later).
        let empty = board.deployment == nil && board.reports.isEmpty
        if !empty || lastPrintMs != nil, lastPrintMs.map({ nowMs >= $0 + intervalMs }) ?? true {
            lastPrintMs = nowMs
            if json {
                if let line = board.boardLine() { actions.append(.print(line)) }
            } else {
                actions.append(.print(board.render()))
            }
        }
        return actions
    }
}
