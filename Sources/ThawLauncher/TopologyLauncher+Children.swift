import Foundation
import ThawNodes
import ThawTopology

/// What the launcher hears from its children.
enum LauncherEvent: Sendable {
    case ready(String)
    case goal
    case report(PhoneReport)
    case fedAvgPhone(FedAvgFleetNode.ReportLine)
    case exited(String)
}

extension TopologyLauncher {
    /// Reads a child's stdout until it closes: the ready line, progress and the final reports.
    static func follow(
        _ child: ChildProcess, role: Role, events: TimedQueue<LauncherEvent>, fedAvg: TimedQueue<FedAvgProgressLine>
    ) {
        Task {
            let decoder = JSONDecoder()
            for await line in child.lines {
                let data = Data(line.utf8)
                if let ready = try? decoder.decode(ReadyLine.self, from: data), ready.ready {
                    await events.push(.ready(child.name))
                } else if let swap = try? decoder.decode(HeadSwapLine.self, from: data), swap.event == "head-swapped" {
                    say(
                        "\(swap.user) on \(swap.device): head v\(swap.headVersion), held-out accuracy "
                            + "\(percent(swap.accuracyBefore)) -> \(percent(swap.accuracy))")
                } else if let goal = try? decoder.decode(GoalLine.self, from: data), goal.event == "goal-reached" {
                    say("\(child.name): goal reached on all \(goal.devices) devices")
                    await events.push(.goal)
                } else if let progress = try? decoder.decode(FedAvgProgressLine.self, from: data) {
                    await fedAvg.push(progress)
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
                        await events.push(.goal)
                    }
                } else if let phone = try? decoder.decode(FedAvgFleetNode.ReportLine.self, from: data),
                    phone.event == "fedavg-device-report"
                {
                    await events.push(.fedAvgPhone(phone))
                } else if let report = try? decoder.decode(PhoneReport.self, from: data), report.event == "device-report" {
                    await events.push(.report(report))
                }
            }
            // stdout closed: the process is exiting. Only unexpected while the launcher is not stopping.
            try? await Task.sleep(for: .milliseconds(100))
            await events.push(.exited(child.name))
        }
    }

    func waitForReady(_ child: ChildProcess, events: TimedQueue<LauncherEvent>) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            switch await events.next(timeout: .seconds(1)) {
            case .ready(let name) where name == child.name:
                Self.say("started \(child.name) (pid \(child.pid))")
                return
            case .exited(let name) where name == child.name:
                throw NodeError(.badConfiguration, "\(name) exited before it was ready; see \(child.logPath)")
            default:
                continue
            }
        }
        throw NodeError(.timeout, "\(child.name) printed no ready line within 120 s; see \(child.logPath)")
    }

    static func say(_ text: String) {
        if let status = LiveStatus.current { return status.printAbove("[thaw up] \(text)") }
        FileHandle.standardOutput.write(Data("[thaw up] \(text)\n".utf8))
    }

    static func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }
}
