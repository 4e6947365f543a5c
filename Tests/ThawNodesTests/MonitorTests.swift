import Foundation
import Testing
import ThawTestKit
import ThawWire
import ThawZMQ

@testable import ThawLauncher
@testable import ThawNodes

/// The monitor's pure parts: the hub's replay, the Prometheus exposition, the history, the dashboard state.
struct MonitorTests {
    static let state = WireDeploymentState(
        modelVersion: 3, modelHash: String(repeating: "ab", count: 32), freezePoint: 7, hyperHash: "ff", epoch: 4)

    static func frames(_ message: ThawMessage, sequence: UInt64 = 1) throws -> [Frame] {
        try WireCodec.encodePublished(
            message, metadata: WireMetadata(sender: "test", sequence: sequence, sentAtUnixMs: 1)
        ).map(Frame.init)
    }

    static func worker(_ name: String, batches: UInt64, at ms: UInt64) -> MetricsReport {
        MetricsReport(
            node: name, role: "worker", timestampMs: ms, gauges: ["samples_per_s": 12.5, "loss": .nan],
            counters: ["batches": batches, "commits": 2, "refused": 1, "refused.router": 1, "refused.malformed": 1])
    }

    static func phone(_ name: String, user: String, accuracy: Double, at ms: UInt64) -> MetricsReport {
        MetricsReport(
            node: name, role: "device", timestampMs: ms,
            gauges: ["accuracy": accuracy, "accuracy_before": 0.5, "prediction_hit_rate": 0.25, "energy_joules": 3.5],
            counters: ["heads_swapped": 1], labels: ["user": user])
    }

    /// Feeds `message` to `machine` as it would arrive, decoding the frames like the node does.
    static func deliver(_ message: ThawMessage, to machine: inout MonitorStateMachine, at ms: UInt64) throws
        -> [MonitorStateMachine.Action]
    {
        let frames = try frames(message)
        let decoded = try WireCodec.decodePublished(frames.map(\.bytes))
        return machine.received(decoded.message, frames: frames, nowMs: ms)
    }

    @Test func aMonitorFedOnlyTheHubsReplayAfterOneHeartbeatKnowsTheWholeState() throws {
        var hub = MonitorStateMachine(isHub: true, json: false, intervalMs: 2000)
        let change = FreezePointChange(state: Self.state, fromFreezePoint: 8, reason: "test")
        let early: [ThawMessage] = [
            .freezePointChange(change), .metrics(Self.worker("worker-0", batches: 4, at: 10)),
            .metrics(Self.phone("phone-0", user: "u1", accuracy: 0.8, at: 11)),
            .metrics(Self.phone("phone-1", user: "u2", accuracy: 0.7, at: 12)),
        ]
        for message in early {
            let actions = try Self.deliver(message, to: &hub, at: 100)
            #expect(actions.count == 1, "a hub forwards every message once")
        }
        // A monitor attached now has missed all of that; the next heartbeat brings it the replay.
        let beat = ThawMessage.heartbeat(Heartbeat(state: Self.state, coordinatorStartedAtMs: 1, counter: 9))
        let actions = try Self.deliver(beat, to: &hub, at: 200)
        var late = MonitorStateMachine(isHub: false, json: false, intervalMs: 2000)
        for case .publish(let frames) in actions {
            let decoded = try WireCodec.decodePublished(frames.map(\.bytes))
            #expect(late.received(decoded.message, frames: frames, nowMs: 201).isEmpty, "an attached monitor forwards nothing")
        }
        #expect(Set(late.board.reports.keys) == ["worker-0", "phone-0", "phone-1"])
        #expect(late.board.deployment == Self.state)
        #expect(late.board.heartbeats == 9)
        #expect(late.board.changes.map(\.epoch) == [4])
        #expect(late.board.boardLine() == hub.board.boardLine())
        // A replay seen twice changes nothing (history is deduplicated, reports are latest-wins).
        for case .publish(let frames) in actions {
            let decoded = try WireCodec.decodePublished(frames.map(\.bytes))
            _ = late.received(decoded.message, frames: frames, nowMs: 202)
        }
        #expect(late.board.changes.count == 1)
    }

    @Test func aChangeWhoseBroadcastWasMissedIsTakenFromTheNextHeartbeat() {
        var board = MonitorBoard()
        var state = Self.state
        board.record(.heartbeat(Heartbeat(state: state, coordinatorStartedAtMs: 1, counter: 1)))
        state.freezePoint = 6
        state.epoch += 1
        board.record(.heartbeat(Heartbeat(state: state, coordinatorStartedAtMs: 1, counter: 2)))
        board.record(.freezePointChange(FreezePointChange(state: state, fromFreezePoint: 7, reason: "late copy")))
        #expect(board.changes.map(\.kind) == ["freeze"])
        #expect(board.changes.map(\.freezePoint) == [6])
    }

    @Test func aJSONMonitorPrintsItsOwnReportWhenItRefusedSomething() {
        var machine = MonitorStateMachine(isHub: false, json: true, intervalMs: 60_000)
        let quiet = MetricsReport(node: "m", role: "monitor", timestampMs: 1, counters: ["refused": 0])
        #expect(!machine.tick(nowMs: 1, own: quiet, ownFrames: nil).contains { if case .print(let l) = $0 { l.contains("\"node\":\"m\"") } else { false } })
        let refusing = MetricsReport(node: "m", role: "monitor", timestampMs: 2, counters: ["refused": 2])
        let printed = machine.tick(nowMs: 2, own: refusing, ownFrames: nil).compactMap { if case .print(let l) = $0 { l } else { nil } }
        #expect(printed.contains { $0.contains("\"kind\":\"metrics\"") && $0.contains("\"refused\":2") })
        #expect(machine.board.reports["m"] != nil, "a monitor that refused something shows itself on its board")
    }

    @Test func anOlderReportNeverReplacesANewerOneAndRatesComeFromCounterDeltas() {
        var board = MonitorBoard()
        board.record(.metrics(Self.worker("w", batches: 10, at: 1_000)))
        board.record(.metrics(Self.worker("w", batches: 30, at: 3_000)))
        board.record(.metrics(Self.worker("w", batches: 5, at: 2_000)))
        #expect(board.reports["w"]?.counters["batches"] == 30)
        #expect(board.batchRate("w") == 10)
    }

    @Test func thePrometheusExpositionParsesAndCarriesEveryRolesMetrics() throws {
        var board = MonitorBoard()
        board.record(.heartbeat(Heartbeat(state: Self.state, coordinatorStartedAtMs: 1, counter: 5)))
        board.record(.metrics(Self.worker("worker-0", batches: 4, at: 10)))
        board.record(.metrics(Self.phone("phone-0", user: "u \"1\"\\", accuracy: 0.8, at: 11)))
        let text = board.prometheus(nowMs: 2_011)
        let samples = try PrometheusText.parse(text)
        #expect(samples["thaw_deployment_freeze_point"]?.first?.value == 7)
        #expect(samples["thaw_heartbeats"]?.first?.value == 5)
        #expect(samples["thaw_batches_total"]?.first?.labels == ["node": "worker-0", "role": "worker"])
        #expect(samples["thaw_refused_router_total"]?.first?.value == 1)
        #expect(samples["thaw_loss"]?.first?.value.isNaN == true)
        let accuracy = try #require(samples["thaw_accuracy"]?.first)
        #expect(accuracy.labels["user"] == "u \"1\"\\")
        #expect(accuracy.value == 0.8)
        #expect(samples["thaw_report_age_seconds"]?.contains { $0.labels["node"] == "phone-0" && $0.value == 2 } == true)
    }

    @Test func theHistoryKeepsABoundedWindow() {
        var history = MonitorHistory()
        for index in 0..<(MonitorHistory.capacity + 10) {
            history.append(
                timeMs: UInt64(index), workers: ["w": Double(index)], accuracy: index < 5 ? ["u": 0.5] : [:],
                refused: 0, freezePoint: 7)
        }
        #expect(history.times.count == MonitorHistory.capacity)
        #expect(history.times.first == 10)
        #expect(history.workers["w"]?.count == MonitorHistory.capacity)
        #expect(history.accuracy["u"]?.count == MonitorHistory.capacity)
        #expect(history.meanAccuracy.allSatisfy { $0 == nil })
    }

    @Test func theDashboardStateIsJSONWithUsersWorkersAndHistory() throws {
        var board = MonitorBoard()
        board.record(.freezePointChange(FreezePointChange(state: Self.state, fromFreezePoint: 8, reason: "t")), nowMs: 5)
        board.record(.metrics(Self.worker("worker-0", batches: 4, at: 1_000)))
        board.record(.metrics(Self.worker("worker-0", batches: 8, at: 2_000)))
        board.record(.metrics(Self.phone("phone-0", user: "u1", accuracy: 0.9, at: 1_000)))
        board.sample(nowMs: 2_000)
        let json = board.dashboard(nowMs: 2_000).json()
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Inf", negativeInfinity: "-Inf", nan: "NaN")
        let state = try decoder.decode(DashboardState.self, from: Data(json.utf8))
        #expect(state.workers.first?.loss?.isNaN == true, "a diverged loss is sent as \"NaN\", not dropped")
        #expect(state.users.map(\.user) == ["u1"])
        #expect(state.workers.first?.batchesPerSecond == 4)
        #expect(state.history.workers["worker-0"] == [4])
        #expect(state.history.meanAccuracy == [0.9])
        #expect(state.changes.map(\.kind) == ["freeze"])
    }

    @Test func thawUpsLiveStatusSummarisesTheBoard() {
        var board = MonitorBoard()
        board.record(.heartbeat(Heartbeat(state: Self.state, coordinatorStartedAtMs: 1, counter: 12)))
        board.record(.metrics(Self.worker("worker-0", batches: 4, at: 1_000)))
        board.record(.metrics(Self.worker("worker-0", batches: 8, at: 3_000)))
        board.record(.metrics(MetricsReport(node: "registry", role: "registry", timestampMs: 1, counters: ["commits": 5])))
        var phone = Self.phone("phone-0", user: "u1", accuracy: 0.75, at: 1)
        phone.gauges["outbox"] = 3
        board.record(.metrics(phone))
        board.record(.metrics(MetricsReport(node: "phone-1", role: "device", timestampMs: 1, gauges: ["outbox": 1])))
        let block = LiveStatus.block(board)
        #expect(block[0] == "── status ── model v3 · k=7 · epoch 4 · heartbeat #12")
        #expect(block[1] == "  workers   worker-0 2.0 b/s")
        #expect(block[2] == "  registry  5 heads committed")
        #expect(block[3] == "  phones    1/2 with heads · 4 batches in flight · mean accuracy 50.0% → 75.0%")
        #expect(block[4] == "  refusals  1")
        #expect(LiveStatus.line(board).contains("phones 1/2 with heads | 4 batches in flight"))
    }
}
