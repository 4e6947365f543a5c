import Foundation
import Synchronization
import ThawLauncher
import ThawModel
import ThawNN
import ThawNodes
import ThawTopology

/// A throwaway deployment for benchmarks: nodes of a generated topology started as separate `thaw`
/// processes on ipc:// endpoints in a temporary folder, their stdout lines kept for parsing, their
/// memory read from /proc. ``stopAll()`` must be called on every path (the nodes also stop when this
/// process dies, through `THAW_EXIT_WITH_PARENT`).
final class BenchCluster: Sendable {
    let directory: String
    let executable: String
    let baseModelPath: String
    private let children = Mutex<[String: ChildProcess]>([:])
    private let output = Mutex<[String: [String]]>([:])

    /// - Parameter directory: a short path (ipc paths are limited to 107 bytes) that this cluster owns.
    init(directory: String, executable: String, baseModelPath: String) throws {
        self.directory = directory
        self.executable = executable
        self.baseModelPath = baseModelPath
        try FileManager.default.createDirectory(atPath: "\(directory)/logs", withIntermediateDirectories: true)
    }

    var topologyPath: String { "\(directory)/topology.yaml" }
    var registryEndpoint: String { "ipc://\(directory)/reg" }
    var controlEndpoint: String { "ipc://\(directory)/ctl" }
    var databasePath: String { "\(directory)/registry.sqlite" }

    /// The ROUTER endpoints of `registries` registries (`reg`, `reg-2`, …).
    func registryEndpoints(_ registries: Int) -> [String] {
        [registryEndpoint] + (registries > 1 ? (2...registries).map { "ipc://\(directory)/reg-\($0)" } : [])
    }

    /// The node names of `registries` registries (`registry`, `registry-2`, …).
    static func registryNames(_ registries: Int) -> [String] {
        ["registry"] + (registries > 1 ? (2...registries).map { "registry-\($0)" } : [])
    }

    /// Writes the topology: one coordinator, `registries` registries on `database` (the SQLite file in
    /// the folder when nil; several need a postgres:// URL), `workers` workers, a device node `phones`
    /// with `phones` simulated phones (started only if asked for).
    func writeTopology(
        workers: Int, phones: Int, freezePoint: Int, epochs: Int, database: String? = nil, registries: Int = 1,
        announce: Bool = false
    ) throws {
        let database = database ?? databasePath
        let replicas = registries > 1
            ? (2...registries).map { index in
                """
                  - name: registry-\(index)
                    role: registry
                    endpoints:
                      router: ipc://\(directory)/reg-\(index)
                    options:
                      database: \(database)

                """
            }.joined() : ""
        let text = """
            name: bench
            seed: 7
            model:
              cache: \(baseModelPath)
            nodes:
              - name: coordinator
                role: coordinator
                endpoints:
                  publish: ipc://\(directory)/pub
                  control: ipc://\(directory)/ctl
                options:
                  freeze-point: \(freezePoint)
                  heartbeat-interval: 1s
              - name: registry
                role: registry
                endpoints:
                  router: ipc://\(directory)/reg\(announce ? "\n      announce: ipc://\(directory)/ann" : "")
                options:
                  database: \(database)
            \(replicas)  - name: worker
                role: worker
                count: \(workers)
                endpoints:
                  pull: ipc://\(directory)/pull
                options:
                  epochs: \(epochs)
                  learning-rate: 0.05
              - name: phones
                role: device
                count: \(max(phones, 1))
                options:
                  annotation-share: 0.5
                  flush:
                    samples: 8
                    interval: 2s

            """
        try text.write(toFile: topologyPath, atomically: true, encoding: .utf8)
    }

    /// The names `thaw` gives the instances of `role` in the written topology.
    func instances(of role: Role) throws -> [NodeInstance] {
        try Topology.load(path: topologyPath).instances(of: role)
    }

    /// Starts node `name` and waits for its ready line.
    func start(_ name: String, role: Role, timeout: Duration = .seconds(120)) async throws {
        let child = try ChildProcess(
            name: name, executable: executable,
            arguments: [
                role.rawValue, "--topology", topologyPath, "--node", name, "--base-model", baseModelPath,
                "--state-dir", "\(directory)/state",
            ],
            logPath: "\(directory)/logs/\(name).log",
            environment: [
                "OPENBLAS_NUM_THREADS": "1", "THAW_EXIT_WITH_PARENT": "1",
                // THAW_BENCH_LOG_LEVEL=info keeps the nodes' info lines (in logs/) for a closer look.
                "THAW_LOG_LEVEL": ProcessInfo.processInfo.environment["THAW_BENCH_LOG_LEVEL"] ?? "warning",
            ])
        children.withLock { $0[name] = child }
        output.withLock { $0[name] = [] }
        Task {
            for await line in child.lines { output.withLock { $0[name, default: []].append(line) } }
        }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if lines(of: name).contains(where: { $0.contains("\"ready\":true") }) { return }
            guard child.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw NodeError(.timeout, "\(name) printed no ready line; see \(directory)/logs/\(name).log")
    }

    /// Starts the whole written topology in dependency order: the registry, the coordinator, every
    /// worker, then the device node `phones`. Returns the node names in that order.
    func startFleet() async throws -> [String] {
        try await start("registry", role: .registry)
        try await start("coordinator", role: .coordinator)
        let workers = try instances(of: .worker).map(\.name)
        for name in workers { try await start(name, role: .worker) }
        try await start("phones", role: .device)
        return ["registry", "coordinator"] + workers + ["phones"]
    }

    /// Writes an untrained FedAvg CNN (seed 1) as model version 1 to `path`: weights do not change the cost
    /// of a pass, so benchmarks of the running system need no trained model.
    static func writeUntrainedModel(to path: String) throws {
        try ModelCheckpoint.save(Model(architecture: .fedAvgCNN(), seed: 1), version: ModelVersion(1), to: path)
    }

    func lines(of name: String) -> [String] { output.withLock { $0[name] ?? [] } }

    /// Resident and peak resident memory of node `name` in KiB (`VmRSS`, `VmHWM` from /proc).
    func memory(of name: String) -> (rssKiB: Int, peakKiB: Int)? {
        guard let pid = children.withLock({ $0[name]?.pid }),
            let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        else { return nil }
        func field(_ key: String) -> Int? {
            status.split(separator: "\n").first { $0.hasPrefix(key) }
                .flatMap { Int($0.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") }
        }
        guard let rss = field("VmRSS:"), let peak = field("VmHWM:") else { return nil }
        return (rss, peak)
    }

    func stop(_ name: String) async {
        guard let child = children.withLock({ $0.removeValue(forKey: name) }) else { return }
        await child.stop(grace: .seconds(10))
    }

    /// Stops devices first, then the cloud.
    func stopAll() async {
        let names = children.withLock { Array($0.keys) }
        for name in names.filter({ $0.hasPrefix("phones") }) + names.filter({ !$0.hasPrefix("phones") }) {
            await stop(name)
        }
    }
}
