import Foundation
import Logging
import Synchronization
import ThawNodes
import ThawTopology
import ThawWire
import ThawZMQ

/// `thaw up`'s live view of the system: an in-process monitor attached to the topology's monitor hub
/// (its `watch` endpoint, docs/MONITORING.md) and a compact status drawn from its board every second.
/// On a terminal the status block is redrawn in place (launcher lines print above it); otherwise
/// (CI, pipes) one plain status line every 10 s.
package final class LiveStatus: Sendable {
    /// The status being shown, so that ``TopologyLauncher/say(_:)`` prints above the block.
    private static let active = Mutex<LiveStatus?>(nil)

    /// The status being shown, if any.
    static var current: LiveStatus? { active.withLock { $0 } }

    private struct State {
        var board = MonitorBoard()
        var drawn = 0
        var lastPlain = ContinuousClock.now
    }
    private let state = Mutex(State())
    private let tty: Bool
    private let stopNode = ShutdownSignal(signals: [])
    private let tasks = Mutex<[Task<Void, Never>]>([])

    private init(tty: Bool) { self.tty = tty }

    /// Starts the status when the topology's monitor declares a `watch` endpoint; nil otherwise.
    static func start(topology: Topology, keysDirectory: String?, logger: Logger) -> LiveStatus? {
        guard let hub = topology.instances(of: .monitor).first, let watch = hub.endpoints["watch"] else { return nil }
        var configuration = MonitorNode.Configuration.attaching(
            name: "thaw-up-status", hub: Endpoint(watch.description), interval: .seconds(3600), json: false)
        configuration.quiet = true
        configuration.emitsReadyLine = false
        configuration.curve = try? topology.curve(keyName: "ctl", binds: false, keysDirectory: keysDirectory)
        let status = LiveStatus(tty: isatty(STDOUT_FILENO) == 1)
        configuration.observer = { board in status.state.withLock { $0.board = board } }
        let node = MonitorNode(configuration: configuration, logger: logger)
        let signal = status.stopNode
        let running = Task {
            do { try await node.run(shutdown: signal) } catch { logger.notice("live status stopped: \(error)") }
        }
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                if !Task.isCancelled { status.draw() }
            }
        }
        status.tasks.withLock { $0 = [running, ticker] }
        active.withLock { $0 = status }
        if let http = hub.spec.options.monitor?.http, !http.hasSuffix(":0") {
            status.printAbove("[thaw up] live dashboard: http://\(http)/ (Prometheus: http://\(http)/metrics)")
        }
        return status
    }

    /// Stops drawing (the last block stays on screen) and the in-process monitor.
    func stop() async {
        Self.active.withLock { $0 = nil }
        let tasks = self.tasks.withLock { $0 }
        tasks.last?.cancel()
        stopNode.trigger()
        for task in tasks { await task.value }
        state.withLock { $0.drawn = 0 }
    }

    /// Writes `line` above the status block (the block is redrawn below it on the next tick).
    func printAbove(_ line: String) {
        state.withLock { state in
            FileHandle.standardOutput.write(Data((Self.erase(state.drawn) + line + "\n").utf8))
            state.drawn = 0
        }
    }

    private func draw() {
        state.withLock { state in
            if tty {
                let lines = Self.block(state.board)
                FileHandle.standardOutput.write(Data((Self.erase(state.drawn) + lines.joined(separator: "\n") + "\n").utf8))
                state.drawn = lines.count
            } else if ContinuousClock.now - state.lastPlain >= .seconds(10) {
                state.lastPlain = ContinuousClock.now
                FileHandle.standardOutput.write(Data(("[thaw up] status: " + Self.line(state.board) + "\n").utf8))
            }
        }
    }

    /// Moves the cursor up over the `lines` drawn last and clears to the end of the screen.
    private static func erase(_ lines: Int) -> String { lines > 0 ? "\u{1B}[\(lines)F\u{1B}[J" : "" }

    struct Summary {
        var deployment = "waiting for a heartbeat"
        var workers: [String] = []
        var heads: UInt64 = 0
        var phones = 0
        var phonesWithHeads = 0
        var inFlight = 0
        var accuracy = ""
        var refused: UInt64 = 0
    }

    static func summary(_ board: MonitorBoard) -> Summary {
        var summary = Summary()
        if let d = board.deployment {
            summary.deployment = "model v\(d.modelVersion) · k=\(d.freezePoint) · epoch \(d.epoch) · heartbeat #\(board.heartbeats)"
        }
        summary.workers = board.reports(role: "worker").map { "\($0.node) \(String(format: "%.1f", board.batchRate($0.node) ?? 0)) b/s" }
        summary.heads = board.reports(role: "registry").reduce(0) { $0 + ($1.counters["commits"] ?? 0) }
        let phones = board.reports(role: "device")
        summary.phones = phones.count
        summary.phonesWithHeads = phones.filter { ($0.counters["heads_swapped"] ?? 0) > 0 }.count
        summary.inFlight = Int(phones.reduce(0) { $0 + ($1.gauges["outbox"] ?? 0) })
        let known = phones.compactMap { p in p.gauges["accuracy"].flatMap { a in p.gauges["accuracy_before"].map { ($0, a) } } }
        if !known.isEmpty {
            let before = known.map(\.0).reduce(0, +) / Double(known.count)
            let now = known.map(\.1).reduce(0, +) / Double(known.count)
            summary.accuracy = String(format: "mean accuracy %.1f%% → %.1f%%", before * 100, now * 100)
        }
        summary.refused = board.totalRefused
        return summary
    }

    static func block(_ board: MonitorBoard) -> [String] {
        let s = summary(board)
        return [
            "── status ── \(s.deployment)",
            "  workers   " + (s.workers.isEmpty ? "-" : s.workers.joined(separator: " · ")),
            "  registry  \(s.heads) heads committed",
            "  phones    \(s.phonesWithHeads)/\(s.phones) with heads · \(s.inFlight) batches in flight"
                + (s.accuracy.isEmpty ? "" : " · \(s.accuracy)"),
            "  refusals  \(s.refused)",
        ]
    }

    static func line(_ board: MonitorBoard) -> String {
        let s = summary(board)
        return "\(s.deployment) | workers \(s.workers.isEmpty ? "-" : s.workers.joined(separator: ", ")) | "
            + "\(s.heads) heads | phones \(s.phonesWithHeads)/\(s.phones) with heads | \(s.inFlight) batches in flight"
            + (s.accuracy.isEmpty ? "" : " | \(s.accuracy)") + " | refused \(s.refused)"
    }
}
