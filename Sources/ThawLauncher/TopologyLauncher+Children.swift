import Foundation
import Synchronization
import ThawNodes
import ThawTopology

/// What the launcher hears from its children.
enum LauncherEvent: Sendable {
    /// A node printed its goal line.
    case goal(String)
    /// Generation `generation` of node `name` exited.
    case exited(name: String, generation: Int, ChildProcess.Termination)
    /// A restarted node printed its ready line again.
    case restarted(name: String, pid: Int32)
}

extension TopologyLauncher {
    /// Reads a child's stdout until it closes: the ready line, progress and the final reports.
    /// `readiness` gets `true` at the ready line and `false` when the child exits.
    static func follow(
        _ child: ChildProcess, generation: Int, supervisor: NodeSupervisor, readiness: TimedQueue<Bool>
    ) {
        let events = supervisor.events
        let collected = supervisor.collected
        Task {
            let decoder = JSONDecoder()
            for await line in child.lines {
                let data = Data(line.utf8)
                if let ready = try? decoder.decode(ReadyLine.self, from: data), ready.ready {
                    await readiness.push(true)
                } else if let swap = try? decoder.decode(HeadSwapLine.self, from: data), swap.event == "head-swapped" {
                    say(
                        "\(swap.user) on \(swap.device): head v\(swap.headVersion), held-out accuracy "
                            + "\(percent(swap.accuracyBefore)) -> \(percent(swap.accuracy))"
                            + (swap.download.map { ", \($0) head download \(swap.downloadBytes ?? 0) B" } ?? ""))
                } else if let goal = try? decoder.decode(GoalLine.self, from: data), goal.event == "goal-reached" {
                    say("\(child.name): goal reached on all \(goal.devices) devices")
                    supervisor.markGoal(child.name)
                    await events.push(.goal(child.name))
                } else if let progress = try? decoder.decode(FedAvgProgressLine.self, from: data) {
                    collected.fedAvg.withLock { $0.append(progress) }
                    switch progress.event {
                    case "fedavg-started":
                        say("\(child.name): FedAvg global model before round 1: held-out accuracy \(percent(progress.accuracy))")
                    case "fedavg-round":
                        say(
                            "\(child.name): FedAvg round \(progress.round): \(progress.contributors.count) of "
                                + "\(progress.selected.count) selected clients reported, global held-out accuracy "
                                + percent(progress.accuracy))
                    default:
                        say("\(child.name): FedAvg finished \(progress.round) rounds (\(progress.refusals) updates refused)")
                        supervisor.markGoal(child.name)
                        await events.push(.goal(child.name))
                    }
                } else if let phone = try? decoder.decode(FedAvgFleetNode.ReportLine.self, from: data),
                    phone.event == "fedavg-device-report"
                {
                    collected.fedAvgPhones.withLock { $0[phone.device] = phone }
                } else if let report = try? decoder.decode(PhoneReport.self, from: data), report.event == "device-report" {
                    collected.phones.withLock { $0[report.device] = report }
                }
            }
            // stdout closed: wait for the exit itself (the termination handler, no polling).
            let termination = await child.waitForExit()
            await readiness.push(false)
            await events.push(.exited(name: child.name, generation: generation, termination))
        }
    }

    /// Waits for `child`'s ready line; throws if it exits first or prints none within `timeout`.
    func waitForReady(_ child: ChildProcess, readiness: TimedQueue<Bool>, timeout: Duration = .seconds(120)) async throws {
        switch await readiness.next(timeout: timeout) {
        case true?:
            return
        case false?:
            throw NodeError(
                .badConfiguration,
                "\(child.name) exited (\(child.termination.map { "\($0)" } ?? "?")) before it was ready; see \(child.logPath)")
        case nil:
            throw NodeError(.timeout, "\(child.name) printed no ready line within \(timeout); see \(child.logPath)")
        }
    }

    static func say(_ text: String) {
        if let status = LiveStatus.current { return status.printAbove("[thaw up] \(text)") }
        FileHandle.standardOutput.write(Data("[thaw up] \(text)\n".utf8))
    }

    static func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }
}
