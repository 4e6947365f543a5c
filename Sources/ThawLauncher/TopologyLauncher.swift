import Foundation
import Logging
import ThawNodes
import ThawTopology

/// `thaw up`: starts every node of a topology as its own OS process, shows progress, stops them all
/// when the goal is reached, the time limit passes or the user presses Ctrl-C, and reports.
public struct TopologyLauncher: Sendable {
    public struct Configuration: Sendable {
        /// The `thaw` binary to start the nodes with (normally this process's own executable).
        public var executable: String
        /// The topology file every node reads (an embedded topology is written here first).
        public var topologyPath: String
        public var baseModelPath: String
        public var outputDirectory: String
        public var timeLimit: Duration
        /// Extra arguments per role (for example `--data DIR` for devices).
        public var extraArguments: [Role: [String]]

        public init(
            executable: String, topologyPath: String, baseModelPath: String, outputDirectory: String,
            timeLimit: Duration, extraArguments: [Role: [String]] = [:]
        ) {
            self.executable = executable
            self.topologyPath = topologyPath
            self.baseModelPath = baseModelPath
            self.outputDirectory = outputDirectory
            self.timeLimit = timeLimit
            self.extraArguments = extraArguments
        }
    }

    public let configuration: Configuration
    public let topology: Topology
    public let logger: Logger

    public init(configuration: Configuration, topology: Topology, logger: Logger) {
        self.configuration = configuration
        self.topology = topology
        self.logger = logger
    }

    /// Why the run ended.
    public enum Ending: String, Sendable {
        case goalReached = "goal reached"
        case timeLimit = "time limit"
        case interrupted = "interrupted"
        case nodeExited = "a node exited"
    }

    public func run(shutdown: ShutdownSignal) async throws -> RunReport {
        let logs = "\(configuration.outputDirectory)/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let order: [Role] = [.registry, .coordinator, .worker, .monitor, .fedavg, .device]
        var children: [(instance: NodeInstance, process: ChildProcess)] = []
        var report = RunReport()
        let events = TimedQueue<LauncherEvent>()
        let fedAvg = TimedQueue<FedAvgProgressLine>()

        func stopAll() async {
            // Devices first, so they can print their reports while the cloud is still up.
            for (_, child) in children.reversed() {
                _ = await child.stop(grace: .seconds(10))
            }
        }

        do {
            for role in order {
                for instance in topology.instances(of: role) {
                    let arguments = [
                        role.rawValue, "--topology", configuration.topologyPath, "--node", instance.name,
                        "--base-model", configuration.baseModelPath,
                        "--state-dir", "\(configuration.outputDirectory)/state",
                    ] + (configuration.extraArguments[role] ?? [])
                    let child = try ChildProcess(
                        name: instance.name, executable: configuration.executable, arguments: arguments,
                        logPath: "\(logs)/\(instance.name).log", environment: ["OPENBLAS_NUM_THREADS": "1", "THAW_EXIT_WITH_PARENT": "1"])
                    children.append((instance, child))
                    Self.follow(child, role: role, events: events, fedAvg: fedAvg)
                    try await waitForReady(child, events: events)
                    report.started.append(instance.name)
                }
            }
        } catch {
            await stopAll()
            throw error
        }
        Self.say("all \(children.count) processes ready; logs in \(logs)/")
        let monitorArguments = configuration.extraArguments[.monitor] ?? []
        let keys = monitorArguments.firstIndex(of: "--keys").map { monitorArguments[$0 + 1] }
        let status = LiveStatus.start(topology: topology, keysDirectory: keys, logger: logger)

        // The goal: every Thaw device process reached its goal, or, with FedAvg servers, they finished their rounds.
        let fedAvgServers = children.filter { $0.instance.role == .fedavg }.count
        let deviceProcesses = fedAvgServers > 0 ? fedAvgServers : children.filter { $0.instance.role == .device }.count
        let ending: Ending = await withTaskGroup(of: Ending?.self) { group in
            group.addTask {
                try? await Task.sleep(for: configuration.timeLimit)
                return Task.isCancelled ? nil : .timeLimit
            }
            group.addTask { await shutdown.wait() == nil ? nil : .interrupted }
            group.addTask {
                var goals = 0
                while !Task.isCancelled {
                    switch await events.next(timeout: .seconds(1)) {
                    case .goal:
                        goals += 1
                        if goals >= deviceProcesses { return .goalReached }
                    case .exited(let name):
                        Self.say("\(name) exited unexpectedly")
                        return .nodeExited
                    case .ready, .report, .fedAvgPhone, nil:
                        continue
                    }
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .interrupted
        }
        await status?.stop()
        Self.say("stopping (\(ending.rawValue))")
        report.ending = ending.rawValue
        await stopAll()
        report.exitStatuses = Dictionary(
            uniqueKeysWithValues: children.map { ($0.instance.name, $0.process.exitStatus ?? -9) })
        while let event = await events.next(timeout: .milliseconds(200)) {
            if case .report(let phone) = event { report.phones.append(phone) }
            if case .fedAvgPhone(let phone) = event { report.fedAvgPhones.append(phone) }
        }
        report.phones.sort { $0.device < $1.device }
        report.fedAvgPhones.sort { $0.device < $1.device }
        while let line = await fedAvg.next(timeout: .milliseconds(50)) { report.fedAvg.append(line) }
        return report
    }
}
