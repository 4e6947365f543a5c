import Foundation
import ThawModel
import ThawNN
import ThawNodes
import ThawTopology

/// `thaw bench system --fleet --fleet-scaling 10,100,1000,10000`: Thaw's client-scaling curve measured
/// on running processes. For each phone count, a fresh registry, coordinator, W workers and one device
/// process with that many phones run for a fixed window; the row records the batches and samples the
/// registry stored in it, each process's CPU, when (if) every phone reached its goal, and, after the
/// phones stop and the workers drain, the registry's audit (stored batches never trained, samples
/// stored twice under the same stamps).
public struct FleetScalingBenchmark {
    public struct Settings: Sendable {
        public var executable: String
        public var phoneCounts = [10, 100, 1000, 10000]
        public var workers = 2
        public var freezePoint = 7
        /// From the device process's start to the throughput and CPU reading.
        public var windowSeconds = 60
        /// After the phones stop: most time the workers get to train what is stored.
        public var drain: Duration = .seconds(60)

        public init(executable: String) { self.executable = executable }
    }

    public struct Row: Codable, Sendable {
        public var phones: Int
        public var windowSeconds: Double
        public var batchesStored: Int
        public var samplesStored: Int
        public var batchesPerSecond: Double
        public var samplesPerSecond: Double
        /// Seconds from the device process's start to its `goal-reached` line (nil: not within the window).
        public var goalSeconds: Double?
        public var processes: [FleetBenchmark.ProcessShare]
        /// After the drain: stored batches not in their user's latest head (lost if they stay so), samples
        /// stored twice under the same stamps (trained twice), refused redeliveries.
        public var untrainedAfterDrain: Int
        public var duplicateSamples: Int
        public var conflicts: Int
        public var heads: Int
        public var drainSeconds: Double
        public var loadAverageAtStart: Double
        /// Load average (1 min) at the reading, before the drain (nil in files written before it was kept).
        public var loadAverageAtReading: Double?
    }

    public struct Results: Codable, Sendable {
        public var host: String
        public var cores: Int
        public var workers: Int
        public var freezePoint: Int
        public var rows: [Row] = []
    }

    public let settings: Settings
    public let progress: @Sendable (String) -> Void

    public init(settings: Settings, progress: @escaping @Sendable (String) -> Void) {
        self.settings = settings
        self.progress = progress
    }

    public func run(workDirectory: String) async throws -> Results {
        var results = Results(
            host: ProcessInfo.processInfo.hostName, cores: ProcessInfo.processInfo.activeProcessorCount,
            workers: settings.workers, freezePoint: settings.freezePoint)
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        let modelPath = "\(workDirectory)/base-model.thaw"
        try BenchCluster.writeUntrainedModel(to: modelPath)
        for phones in settings.phoneCounts {
            let cluster = try BenchCluster(
                directory: "\(workDirectory)/n\(phones)", executable: settings.executable, baseModelPath: modelPath)
            do {
                results.rows.append(try await measure(cluster, phones: phones))
                await cluster.stopAll()
            } catch {
                await cluster.stopAll()
                throw error
            }
            let row = results.rows[results.rows.count - 1]
            progress(
                String(
                    format: "%d phones: %.2f batches/s, %.1f samples/s, untrained after drain %d, twice %d",
                    phones, row.batchesPerSecond, row.samplesPerSecond, row.untrainedAfterDrain, row.duplicateSamples))
        }
        try? FileManager.default.removeItem(atPath: workDirectory)
        return results
    }

    private func measure(_ cluster: BenchCluster, phones: Int) async throws -> Row {
        let load = FleetBenchmark.loadAverage()
        try cluster.writeTopology(workers: settings.workers, phones: phones, freezePoint: settings.freezePoint, epochs: 1)
        let nodes = try await cluster.startFleet()
        let started = ContinuousClock.now
        let cpuAtStart = Dictionary(uniqueKeysWithValues: nodes.map { ($0, FleetBenchmark.cpuSeconds(cluster, node: $0) ?? 0) })
        progress("\(phones) phones, \(settings.workers) workers: \(settings.windowSeconds) s window")
        var goalSeconds: Double?
        let until = started + .seconds(settings.windowSeconds)
        while ContinuousClock.now < until {
            try await Task.sleep(for: .milliseconds(500))
            if goalSeconds == nil, cluster.lines(of: "phones").contains(where: { $0.contains("\"event\":\"goal-reached\"") }) {
                goalSeconds = Self.seconds(ContinuousClock.now - started)
            }
        }
        let window = Self.seconds(ContinuousClock.now - started)
        var processes: [FleetBenchmark.ProcessShare] = []
        let cores = Double(ProcessInfo.processInfo.activeProcessorCount)
        for node in nodes {
            let cpu = (FleetBenchmark.cpuSeconds(cluster, node: node) ?? 0) - (cpuAtStart[node] ?? 0)
            let memory = cluster.memory(of: node) ?? (0, 0)
            processes.append(
                FleetBenchmark.ProcessShare(
                    node: node, cpuSeconds: cpu, machineShare: cpu / (window * cores), rssKiB: memory.rssKiB,
                    peakKiB: memory.peakKiB))
        }
        let loadAtReading = FleetBenchmark.loadAverage()
        var audit = try Self.audit(cluster)
        let (batches, samples) = (audit.batches, audit.featureRows)
        // The phones stop (their outboxes are kept); the workers get `drain` to train what is stored.
        await cluster.stop("phones")
        let draining = ContinuousClock.now
        while !audit.untrained.isEmpty, ContinuousClock.now - draining < settings.drain {
            try await Task.sleep(for: .seconds(1))
            audit = try Self.audit(cluster)
        }
        return Row(
            phones: phones, windowSeconds: window, batchesStored: batches, samplesStored: samples,
            batchesPerSecond: Double(batches) / window, samplesPerSecond: Double(samples) / window,
            goalSeconds: goalSeconds, processes: processes, untrainedAfterDrain: audit.untrained.count,
            duplicateSamples: audit.duplicateSamples.count, conflicts: audit.conflicts.count, heads: audit.heads,
            drainSeconds: Self.seconds(ContinuousClock.now - draining), loadAverageAtStart: load,
            loadAverageAtReading: loadAtReading)
    }

    private static func audit(_ cluster: BenchCluster) throws -> RegistryAudit {
        let store = try RegistryStore(path: cluster.databasePath)
        defer { try? store.close() }
        return try store.audit()
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Prints `results` as a table and writes them as JSON to `path`.
    public static func print(_ results: Results, to path: String) throws {
        Swift.print(
            "\nclient scaling: \(results.workers) workers, \(results.cores) cores, freeze point \(results.freezePoint)")
        Swift.print(
            "phones  window s  batches  batches/s  samples/s  goal s  device %  registry %  workers %  untrained  twice  load")
        for row in results.rows {
            func share(_ prefix: String) -> Double {
                row.processes.filter { $0.node.hasPrefix(prefix) }.reduce(0) { $0 + $1.machineShare } * 100
            }
            Swift.print(
                String(
                    format: "%6d  %8.0f  %7d  %9.2f  %9.1f  %6@  %8.1f  %10.1f  %9.1f  %9d  %5d  %4.1f", row.phones,
                    row.windowSeconds, row.batchesStored, row.batchesPerSecond, row.samplesPerSecond,
                    (row.goalSeconds.map { String(format: "%.0f", $0) } ?? "-") as NSString, share("phones"),
                    share("registry"), share("worker"), row.untrainedAfterDrain, row.duplicateSamples,
                    row.loadAverageAtStart))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(results).write(to: url)
        Swift.print("wrote \(path)")
    }
}
