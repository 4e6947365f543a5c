import Foundation
import ThawData
import ThawModel
import ThawNN
import ThawNodes
import ThawTopology
import ThawWire
import ThawZMQ

/// `thaw bench system --fleet --phones N`: one device process simulating N phones against a real
/// registry, coordinator and W workers, all as processes on this host, measured while the phones upload.
///
/// - **Broadcast-to-eviction latency** for a model change, then (later, in the same run) a freeze move:
///   from the coordinator sending the broadcast to each phone having applied it, as the device process
///   reports it (`deployment-applied`), while its phones keep producing and uploading samples.
/// - **Device process memory** (RSS and peak) after `loadSeconds` of load.
/// - **Throughput and CPU**: batches the registry stored per second over the run, and each process's
///   share of the machine's CPU (user + system time from /proc over wall time × cores), to show which
///   process is the limit.
/// - **Stop time** of the device process on SIGTERM.
public struct FleetBenchmark {
    public struct Settings: Sendable {
        public var executable: String
        public var phones = 1000
        public var workers = 2
        public var freezePoint = 7
        /// Load before the first broadcast.
        public var warmUp: Duration = .seconds(30)
        /// Between the model change and the freeze move (and between two freeze moves).
        public var between: Duration = .seconds(15)
        /// Freeze moves, alternating k → k-1 → k …: one broadcast is one sample of the applied latency,
        /// so several give its p50/p99 over broadcasts (``Results/freezeMovesAppliedMs``).
        public var freezeMoves = 1
        /// From the device process's start to the memory, CPU and throughput reading.
        public var loadSeconds = 120
        public var timeout: Duration = .seconds(600)
        /// The registry announces committed heads (pull on change, as in the shipped topologies); without,
        /// every phone pulls its head every 2 s.
        public var announce = false

        public init(executable: String) { self.executable = executable }
    }

    public struct Eviction: Codable, Sendable {
        public var change: String
        public var phones: Int
        public var evicted: Int
        /// Applied: from the coordinator's send to the change being the device process's (no phone uses a
        /// stale entry after it).
        public var latencyMs: LatencySummary
        /// From the send to each phone's own stale entries being dropped (the sweep).
        public var sweptMs: LatencySummary?
        /// The applied latency's parts: send → the device process's reader, reader → the fleet's task,
        /// and the fleet task's units that ran meanwhile ("kind:ms").
        public var receivedMs: Double?
        public var queuedMs: Double?
        public var waitedFor: [String]?
    }

    public struct ProcessShare: Codable, Sendable {
        public var node: String
        /// CPU seconds (user + system) over the measured window.
        public var cpuSeconds: Double
        /// `cpuSeconds` / (window × cores): the process's share of the whole machine.
        public var machineShare: Double
        public var rssKiB: Int
        public var peakKiB: Int
    }

    public struct Results: Codable, Sendable {
        public var host: String
        public var cores: Int
        public var phones: Int
        public var workers: Int
        public var freezePoint: Int
        public var eviction: [Eviction] = []
        /// The applied latency of every freeze move of the run, one sample per broadcast.
        public var freezeMovesAppliedMs: LatencySummary?
        public var windowSeconds: Double = 0
        public var batchesStored = 0
        public var batchesPerSecond = 0.0
        public var batchesSentByDevices = 0
        public var processes: [ProcessShare] = []
        public var deviceRSSKiB = 0
        public var deviceRSSPerPhoneKiB = 0.0
        public var deviceStopSeconds = 0.0
        /// The machine was shared with other work while this ran (load average at the start, 1 min).
        public var loadAverageAtStart = 0.0
        /// Whether the registry announced committed heads (pull on change).
        public var announce: Bool?
        /// Load average (1 min) when memory and CPU were read.
        public var loadAverageAtReading: Double?
        /// The device process's last `fleet-memory` line before the reading: where its bytes went.
        package var deviceMemory: FleetMemoryLine?
    }

    public let settings: Settings
    public let progress: @Sendable (String) -> Void

    public init(settings: Settings, progress: @escaping @Sendable (String) -> Void) {
        self.settings = settings
        self.progress = progress
    }

    public func run(workDirectory: String) async throws -> Results {
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        let modelPath = "\(workDirectory)/base-model.thaw"
        try BenchCluster.writeUntrainedModel(to: modelPath)
        let cluster = try BenchCluster(
            directory: "\(workDirectory)/f", executable: settings.executable, baseModelPath: modelPath)
        do {
            let results = try await measure(cluster, modelPath: modelPath)
            await cluster.stopAll()
            try? FileManager.default.removeItem(atPath: workDirectory)
            return results
        } catch {
            await cluster.stopAll()
            throw error
        }
    }

    private func measure(_ cluster: BenchCluster, modelPath: String) async throws -> Results {
        var results = Results(
            host: ProcessInfo.processInfo.hostName, cores: ProcessInfo.processInfo.activeProcessorCount,
            phones: settings.phones, workers: settings.workers, freezePoint: settings.freezePoint)
        results.loadAverageAtStart = Self.loadAverage()
        results.announce = settings.announce
        try cluster.writeTopology(
            workers: settings.workers, phones: settings.phones, freezePoint: settings.freezePoint, epochs: 1,
            announce: settings.announce)
        let nodes = try await cluster.startFleet()
        let started = ContinuousClock.now
        let cpuAtStart = Dictionary(uniqueKeysWithValues: nodes.map { ($0, Self.cpuSeconds(cluster, node: $0) ?? 0) })
        progress("\(settings.phones) phones, \(settings.workers) workers: warming up for \(settings.warmUp)")
        try await Task.sleep(for: settings.warmUp)

        // A model change while the phones upload.
        let control = ControlClient(endpoint: Endpoint(cluster.controlEndpoint))
        var contents = try ModelCheckpoint.load(from: modelPath)
        contents.version = ModelVersion(2)
        contents.parameters = contents.parameters.map { $0 * 0.99 }
        let next = "\(cluster.directory)/base-model-v2.thaw"
        try ModelCheckpoint.save(contents, to: next)
        progress("publishing model v2")
        _ = try await ModelPublisher(registry: Endpoint(cluster.registryEndpoint), coordinator: control)
            .publish(checkpointAt: next)
        results.eviction.append(try await applied(cluster, change: "model version 1 -> 2", marker: "\"modelVersion\":2"))
        progress("model change: \(results.eviction[0].latencyMs)")

        // Freeze moves, later, still under load: k → k-1, back to k, …
        var moves: [Double] = []
        var from = settings.freezePoint
        for _ in 0..<max(settings.freezeMoves, 1) {
            try await Task.sleep(for: settings.between)
            let k = from == settings.freezePoint ? settings.freezePoint - 1 : settings.freezePoint
            progress("moving the freeze point to \(k)")
            let before = cluster.lines(of: "phones").count
            _ = try await control.send(.freeze(k))
            let move = try await applied(
                cluster, change: "freeze point \(from) -> \(k)", marker: "\"freezePoint\":\(k)", after: before)
            results.eviction.append(move)
            moves.append(move.latencyMs.max)
            progress("freeze move: \(move.latencyMs), waited for \(move.waitedFor ?? [])")
            from = k
        }
        results.freezeMovesAppliedMs = LatencySummary(moves)

        let until = started + .seconds(settings.loadSeconds)
        if ContinuousClock.now < until {
            progress("load until \(settings.loadSeconds) s after the device process started")
            try await Task.sleep(until: until, clock: .continuous)
        }
        let window = ContinuousClock.now - started
        results.windowSeconds = Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18
        for node in nodes {
            let cpu = (Self.cpuSeconds(cluster, node: node) ?? 0) - (cpuAtStart[node] ?? 0)
            let memory = cluster.memory(of: node) ?? (0, 0)
            results.processes.append(
                ProcessShare(
                    node: node, cpuSeconds: cpu, machineShare: cpu / (results.windowSeconds * Double(results.cores)),
                    rssKiB: memory.rssKiB, peakKiB: memory.peakKiB))
        }
        let device = cluster.memory(of: "phones") ?? (0, 0)
        results.loadAverageAtReading = Self.loadAverage()
        if let line = cluster.lines(of: "phones").last(where: { $0.contains("\"event\":\"fleet-memory\"") }) {
            results.deviceMemory = try? JSONDecoder().decode(FleetMemoryLine.self, from: Data(line.utf8))
        }
        results.deviceRSSKiB = device.rssKiB
        results.deviceRSSPerPhoneKiB = Double(device.rssKiB) / Double(max(settings.phones, 1))
        results.batchesSentByDevices = cluster.lines(of: "phones").count { $0.contains("\"event\":\"batch-sent\"") }
        let store = try RegistryStore(path: cluster.databasePath)
        results.batchesStored = try store.audit().batches
        try? store.close()
        results.batchesPerSecond = Double(results.batchesStored) / results.windowSeconds

        // Bounded stop: SIGTERM to exit, whatever the load.
        let stopping = ContinuousClock.now
        await cluster.stop("phones")
        let stop = ContinuousClock.now - stopping
        results.deviceStopSeconds = Double(stop.components.seconds) + Double(stop.components.attoseconds) / 1e18
        return results
    }

    /// The `deployment-applied` line of `change` printed after the first `after` lines.
    private func applied(_ cluster: BenchCluster, change: String, marker: String, after: Int = 0) async throws -> Eviction {
        let deadline = ContinuousClock.now + settings.timeout
        while ContinuousClock.now < deadline {
            if let line = cluster.lines(of: "phones").dropFirst(after).last(where: {
                $0.contains("\"event\":\"deployment-applied\"") && $0.contains(marker)
            }) {
                let applied = try JSONDecoder().decode(DeploymentAppliedLine.self, from: Data(line.utf8))
                return Eviction(
                    change: change, phones: applied.phones, evicted: applied.evicted, latencyMs: applied.latencyMs,
                    sweptMs: applied.sweptMs, receivedMs: applied.receivedMs, queuedMs: applied.queuedMs,
                    waitedFor: applied.waitedFor)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw NodeError(.timeout, "the device process never applied \(change)")
    }

    /// User + system CPU seconds of the process running node `node` of this cluster (found by its
    /// command line in /proc: `--node <name>` and the cluster's topology).
    static func cpuSeconds(_ cluster: BenchCluster, node: String) -> Double? {
        guard let pid = pid(cluster, node: node),
            let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name: state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (user + system) / ticks
    }

    static func pid(_ cluster: BenchCluster, node: String) -> Int? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for entry in entries {
            guard let pid = Int(entry),
                let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
            else { continue }
            let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard arguments.contains(cluster.topologyPath), let at = arguments.firstIndex(of: "--node"),
                at + 1 < arguments.count, arguments[at + 1] == node
            else { continue }
            return pid
        }
        return nil
    }

    static func loadAverage() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return 0 }
        return Double(text.split(separator: " ").first ?? "") ?? 0
    }
}

extension FleetBenchmark {
    /// Prints `results` as a table and writes them as JSON to `path`.
    public static func print(_ results: Results, to path: String) throws {
        Swift.print(
            "\nfleet: \(results.phones) phones, \(results.workers) workers, \(results.cores) cores, "
                + String(format: "load average %.1f at start", results.loadAverageAtStart))
        for row in results.eviction {
            Swift.print(
                String(
                    format: "%@: %d phones, %d evicted, applied p50 %.1f ms, p99 %.1f ms, max %.1f ms", row.change,
                    row.phones, row.evicted, row.latencyMs.p50, row.latencyMs.p99, row.latencyMs.max))
            if let swept = row.sweptMs {
                Swift.print(
                    String(format: "    stale entries dropped: p50 %.1f ms, p99 %.1f ms, max %.1f ms", swept.p50, swept.p99, swept.max))
            }
            if let received = row.receivedMs, let queued = row.queuedMs {
                Swift.print(
                    String(format: "    send -> reader %.0f ms, reader -> fleet task %.1f ms, behind: ", received, queued)
                        + (row.waitedFor ?? []).joined(separator: " "))
            }
        }
        if let moves = results.freezeMovesAppliedMs {
            Swift.print(
                String(
                    format: "freeze moves applied (%d broadcasts): p50 %.1f ms, p99 %.1f ms, max %.1f ms", moves.count,
                    moves.p50, moves.p99, moves.max))
        }
        Swift.print(
            String(
                format: "window %.0f s: %d batches stored (%.2f/s), %d sent by the devices", results.windowSeconds,
                results.batchesStored, results.batchesPerSecond, results.batchesSentByDevices))
        Swift.print("node            cpu s   machine share   RSS MiB   peak MiB")
        for row in results.processes {
            Swift.print(
                String(
                    format: "%-14@ %6.1f   %12.1f%%   %7.1f   %8.1f", row.node as NSString, row.cpuSeconds,
                    row.machineShare * 100, Double(row.rssKiB) / 1024, Double(row.peakKiB) / 1024))
        }
        if let memory = results.deviceMemory {
            let perPhone = { (bytes: Int) in Double(bytes) / 1024 / Double(max(memory.phones, 1)) }
            Swift.print(
                String(
                    format: "device memory (last fleet-memory line): RSS %.1f MiB, heap in use %.1f MiB, free in heap %.1f MiB; KiB per phone:",
                    Double(memory.rssBytes) / 1_048_576, Double(memory.heapInUseBytes) / 1_048_576,
                    Double(memory.heapFreeBytes) / 1_048_576))
            for (category, bytes) in memory.bytes.sorted(by: { $0.value > $1.value }) {
                Swift.print(String(format: "    %-22@ %9.1f MiB  %7.1f KiB/phone", category as NSString, Double(bytes) / 1_048_576, perPhone(bytes)))
            }
            Swift.print(
                String(
                    format: "    %-22@ %9.1f MiB  %7.1f KiB/phone", "uncounted heap" as NSString,
                    Double(memory.uncountedHeapBytes) / 1_048_576, perPhone(memory.uncountedHeapBytes)))
            Swift.print(
                String(format: "device CPU by kind of work (since its start; %.1f s in all):", memory.cpuSeconds))
            for (kind, seconds) in memory.cpuSecondsByKind.sorted(by: { $0.value > $1.value }) {
                Swift.print(
                    String(
                        format: "    %-22@ %8.1f s  %5.1f %%", kind as NSString, seconds,
                        100 * seconds / max(memory.cpuSeconds, 1e-9)))
            }
            let booked = memory.cpuSecondsByKind.values.reduce(0, +)
            Swift.print(
                String(
                    format: "    %-22@ %8.1f s  %5.1f %%", "not booked" as NSString, memory.cpuSeconds - booked,
                    100 * (memory.cpuSeconds - booked) / max(memory.cpuSeconds, 1e-9)))
            Swift.print("    counts: " + memory.counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        }
        Swift.print(
            String(
                format: "device process: RSS %.1f MiB (%.1f KiB per phone), stopped %.2f s after SIGTERM",
                Double(results.deviceRSSKiB) / 1024, results.deviceRSSPerPhoneKiB, results.deviceStopSeconds))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(results).write(to: url)
        Swift.print("wrote \(path)")
    }
}
