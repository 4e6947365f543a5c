import Foundation
import Synchronization
import Logging
import ThawNodes
import ThawTopology

/// `thaw up`: starts every node of a topology as its own OS process, supervises them (a node that exits
/// unexpectedly is restarted with back-off, within a restart budget), shows progress, stops them all
/// when the goal is reached, the time limit passes, a node keeps failing or the user presses Ctrl-C,
/// and reports.
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
        /// When and how often a node that exits unexpectedly is restarted.
        package var restartPolicy: RestartPolicy = .standard

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

    /// Why the run ended. Only ``goalReached`` is a success: every other ending gives `thaw up` a
    /// non-zero exit status (``exitCode``).
    public enum Ending: Sendable, Hashable, CustomStringConvertible {
        case goalReached
        case timeLimit
        case interrupted
        /// The node kept failing: it exited unexpectedly more often than the restart policy allows.
        case nodeFailed(String)

        public var description: String {
            switch self {
            case .goalReached: "goal reached"
            case .timeLimit: "time limit"
            case .interrupted: "interrupted"
            case .nodeFailed(let name): "\(name) kept failing"
            }
        }

        /// `thaw up`'s exit status: 0 at the goal, 2 at the time limit, 3 when a node kept failing,
        /// 130 when interrupted (the shell's status for SIGINT).
        public var exitCode: Int32 {
            switch self {
            case .goalReached: 0
            case .timeLimit: 2
            case .nodeFailed: 3
            case .interrupted: 130
            }
        }
    }

    /// The launcher waits this long after SIGTERM before SIGKILL: above the roles' own graceful stop
    /// deadline (``RoleService/gracefulStopDeadline``), so a stuck node cancels itself first.
    static let stopGrace: Duration = RoleService.gracefulStopDeadline + .seconds(2)

    public func run(shutdown: ShutdownSignal) async throws -> RunReport {
        let logs = "\(configuration.outputDirectory)/logs"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let order: [Role] = [.registry, .coordinator, .worker, .monitor, .fedavg, .device]
        var report = RunReport()
        let supervisor = NodeSupervisor(policy: configuration.restartPolicy, events: TimedQueue(capacity: 4096))

        do {
            for role in order {
                for instance in topology.instances(of: role) {
                    let child = try await start(instance, supervisor: supervisor)
                    Self.say("started \(instance.name) (pid \(child.pid))")
                    report.started.append(instance.name)
                }
            }
        } catch {
            await stopAll(supervisor)
            throw error
        }
        Self.say("all \(report.started.count) processes ready; logs in \(logs)/")
        let monitorArguments = configuration.extraArguments[.monitor] ?? []
        let keys = monitorArguments.firstIndex(of: "--keys").map { monitorArguments[$0 + 1] }
        let status = LiveStatus.start(topology: topology, keysDirectory: keys, logger: logger)

        // The goal: every Thaw device process reached its goal, or, with FedAvg servers, they finished their rounds.
        let fedAvgServers = topology.instances(of: .fedavg).count
        let goalNodes = fedAvgServers > 0 ? fedAvgServers : topology.instances(of: .device).count
        let ending: Ending = await withTaskGroup(of: Ending?.self) { group in
            group.addTask {
                try? await Task.sleep(for: configuration.timeLimit)
                return Task.isCancelled ? nil : .timeLimit
            }
            group.addTask { await shutdown.wait() == nil ? nil : .interrupted }
            group.addTask { await supervise(supervisor, goalNodes: goalNodes) }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .interrupted
        }
        await status?.stop()
        Self.say("stopping (\(ending))")
        report.ending = ending.description
        report.exitCode = ending.exitCode
        await stopAll(supervisor)
        report.exitStatuses = supervisor.exitStatuses
        report.restarts = supervisor.restarts
        if case .nodeFailed(let name) = ending {
            report.failedNode = name
            report.exitStatuses[name] = report.exitStatuses[name] ?? -1
        }
        report.phones = supervisor.collected.phones.withLock { Array($0.values) }
        report.fedAvgPhones = supervisor.collected.fedAvgPhones.withLock { Array($0.values) }
        report.phones.sort { $0.device < $1.device }
        report.fedAvgPhones.sort { $0.device < $1.device }
        report.fedAvg = supervisor.collected.fedAvg.withLock { $0 }
        report.persisted = persistedPhoneReports()
        return report
    }

    /// Every Thaw phone's account read back from its state files, now that every device process has
    /// exited: true whether a process stopped gracefully or was killed after the grace period.
    func persistedPhoneReports() -> [PersistedPhoneReport] {
        let fedAvgServers = Set(topology.instances(of: .fedavg).map(\.name))
        return topology.instances(of: .device).filter { fedAvgServers.isDisjoint(with: $0.spec.peers) }.flatMap { instance in
            let phones: Int
            switch (instance.spec.options.device ?? DeviceOptions()).users {
            case .ids(let ids): phones = ids.count
            case .auto: phones = instance.spec.count
            }
            return DeviceFleetNode.persistedReports(
                stateDirectory: "\(configuration.outputDirectory)/state/\(instance.name)", node: instance.name, phones: phones)
        }
    }

    /// Starts generation 1 of `instance` and waits for its ready line.
    private func start(_ instance: NodeInstance, supervisor: NodeSupervisor) async throws -> ChildProcess {
        let readiness = TimedQueue<Bool>(capacity: 4)
        guard let (child, generation) = try supervisor.spawn(instance, make: { _ in try makeChild(instance) }) else {
            throw NodeError(.badConfiguration, "stopping before \(instance.name) started")
        }
        Self.follow(child, generation: generation, supervisor: supervisor, readiness: readiness)
        try await waitForReady(child, readiness: readiness)
        return child
    }

    private func makeChild(_ instance: NodeInstance) throws -> ChildProcess {
        let role = instance.role
        var arguments = [
            role.rawValue, "--topology", configuration.topologyPath, "--node", instance.name,
            "--state-dir", "\(configuration.outputDirectory)/state",
        ]
        if Self.rolesWithModel.contains(role) { arguments += ["--base-model", configuration.baseModelPath] }
        arguments += configuration.extraArguments[role] ?? []
        return try ChildProcess(
            name: instance.name, executable: configuration.executable, arguments: arguments,
            logPath: "\(configuration.outputDirectory)/logs/\(instance.name).log",
            environment: ["OPENBLAS_NUM_THREADS": "1", "THAW_EXIT_WITH_PARENT": "1"])
    }

    /// The roles that read the base model file (the monitor does not).
    static let rolesWithModel: Set<Role> = Set(Role.allCases).subtracting([.monitor])

    /// Follows the run until the goal, or until a node exhausts its restart budget. A node that exits
    /// unexpectedly is restarted after its back-off while the run goes on.
    private func supervise(_ supervisor: NodeSupervisor, goalNodes: Int) async -> Ending? {
        var reached: Set<String> = []
        let policy = supervisor.policy
        while !Task.isCancelled {
            switch await supervisor.events.next(timeout: .seconds(1)) {
            case .goal(let name):
                reached.insert(name)
                if reached.count >= goalNodes { return .goalReached }
            case .exited(let name, let generation, let termination):
                guard supervisor.isCurrent(name, generation: generation), let slot = supervisor.slot(name) else { continue }
                // A FedAvg server exits by itself after its last round, having printed its goal.
                if slot.reachedGoal, termination == .exited(0), slot.instance.role == .fedavg { continue }
                Self.say("\(name) exited unexpectedly (\(termination))")
                switch supervisor.exited(name, termination, at: .now) {
                case .restart(let backoff, let attempt):
                    Self.say(
                        "restarting \(name) in \(backoff) (restart \(attempt) of at most \(policy.maximumRestarts) "
                            + "within \(policy.window)); see \(configuration.outputDirectory)/logs/\(name).log")
                    let instance = slot.instance
                    Task { await restart(instance, after: backoff, supervisor: supervisor) }
                case .giveUp(let failures):
                    Self.say(
                        "\(name) failed \(failures) times within \(policy.window); giving up on it and ending the run")
                    return .nodeFailed(name)
                }
            case .restarted(let name, let pid):
                Self.say("restarted \(name) (pid \(pid)); \(supervisor.slot(name)?.restarts.count ?? 0) restart(s) so far")
            case nil:
                continue
            }
        }
        return nil
    }

    /// Starts the next generation of `instance` after `backoff`, unless the run is stopping by then. If it
    /// exits before it is ready, its exit event counts as the next failure; if it hangs without a ready
    /// line, it is killed, which does the same.
    private func restart(_ instance: NodeInstance, after backoff: Duration, supervisor: NodeSupervisor) async {
        try? await Task.sleep(for: backoff)
        let readiness = TimedQueue<Bool>(capacity: 4)
        let spawned: (child: ChildProcess, generation: Int)?
        do {
            spawned = try supervisor.spawn(instance, make: { _ in try makeChild(instance) })
        } catch {
            Self.say("could not restart \(instance.name): \(error)")
            await supervisor.events.push(.exited(name: instance.name, generation: supervisor.slot(instance.name)?.generation ?? 0, .exited(-1)))
            return
        }
        guard let (child, generation) = spawned else { return }
        Self.follow(child, generation: generation, supervisor: supervisor, readiness: readiness)
        switch await readiness.next(timeout: .seconds(120)) {
        case true?:
            await supervisor.events.push(.restarted(name: instance.name, pid: child.pid))
        case false?:
            return
        case nil:
            Self.say("\(instance.name) printed no ready line within 120 s after its restart; killing it")
            child.signal(SIGKILL)
        }
    }

    /// Stops every child: devices first (so they persist and report while the cloud is still up), then
    /// FedAvg servers, the monitor and workers, then the coordinator, the registry last; each group in
    /// parallel, each child SIGTERM, then SIGKILL after ``stopGrace``.
    private func stopAll(_ supervisor: NodeSupervisor) async {
        let children = supervisor.beginStopping()
        let groups: [Set<Role>] = [[.device], [.fedavg, .monitor, .worker], [.coordinator], [.registry]]
        for roles in groups {
            await withTaskGroup(of: Void.self) { group in
                for (instance, child) in children where roles.contains(instance.role) {
                    group.addTask { _ = await child.stop(grace: Self.stopGrace) }
                }
            }
        }
    }
}
