import ArgumentParser
import Foundation
import ThawBench
import ThawNodes

/// `thaw bench system`: the engine's rate for the workers' head and recipe, end-to-end throughput with 1
/// and 2 workers (and their ratio to the engine), one user's 1st vs 100th batch push-to-commit time,
/// broadcast-to-eviction latency with 1,000 simulated phones, and memory per simulated phone, all as real
/// processes on this host.
struct BenchSystemCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "system",
        abstract: "Measure the distributed system: throughput by worker count, eviction latency, memory per phone.")

    @Option(help: "Worker counts to measure throughput with, comma-separated.") var workers: String = "1,2"
    @Option(help: "Synthetic users for the throughput runs.") var users: Int = 8
    @Option(help: "Batches each synthetic user sends.") var batchesPerUser: Int = 8
    @Option(help: "Batches one user sends one after another for the 1st-vs-last latency (0: skip).")
    var historyBatches: Int = 100
    @Flag(help: "Skip the device-side measurements (eviction latency, device memory).") var skipDevices = false
    @Option(help: "Samples per batch.") var samplesPerBatch: Int = 32
    @Option(help: "Training epochs per batch on the workers.") var epochs: Int = 2
    @Option(help: "Simulated phones in the device process for the eviction latency.") var phones: Int = 1000
    @Option(help: "Phone counts of the device processes whose memory is compared, comma-separated.")
    var memoryPhones: String = "10,1000"
    @Option(help: "Seconds the device process runs before a measurement.") var warmUp: Int = 20
    @Option(help: "Write results as JSON to this file.") var output: String = "bench-results/system.json"
    @Flag(help: "Only the fleet benchmark: --phones phones uploading to --fleet-workers workers (FleetBenchmark).")
    var fleet = false
    @Option(help: "Fleet benchmark: workers.") var fleetWorkers: Int = 2
    @Option(help: "Fleet benchmark: seconds of load before memory, CPU and throughput are read.") var fleetSeconds: Int = 120
    @Option(
        help:
            "A PostgreSQL server (postgres://user@host:port/db, a login that may create databases): measure throughput and head pulls on SQLite and on PostgreSQL with --registries registry processes, side by side.")
    var database: String?
    @Option(help: "With --database: registry process counts on PostgreSQL, comma-separated.") var registries: String = "1,2"
    @Option(help: "With --database: seconds of head pulls after each throughput run.") var headPullSeconds: Int = 5
    @Option(help: "Fleet benchmark: freeze moves (k -> k-1 -> k ...), one applied-latency sample each.")
    var fleetFreezeMoves: Int = 1
    @Option(help: "Fleet benchmark: seconds between the model change and each freeze move.") var fleetBetween: Int = 15
    @Flag(help: "Fleet benchmark: the registry announces committed heads and phones pull on change (as in the shipped topologies); without it every phone pulls every 2 s.")
    var fleetAnnounce = false
    @Option(help: "Fleet benchmark: instead, the client-scaling curve at these phone counts (comma-separated), each over --fleet-seconds.")
    var fleetScaling: String?

    func run() async throws {
        if fleet, let fleetScaling {
            var settings = FleetScalingBenchmark.Settings(executable: try UpCommand.ownExecutable())
            settings.phoneCounts = try Self.integers(fleetScaling, "--fleet-scaling")
            (settings.workers, settings.windowSeconds) = (fleetWorkers, fleetSeconds)
            let results = try await FleetScalingBenchmark(settings: settings) { print("[bench scaling] \($0)") }
                .run(workDirectory: "/tmp/thaw-scaling-\(getpid())")
            try FleetScalingBenchmark.print(
                results, to: output == "bench-results/system.json" ? "bench-results/fleet-scaling.json" : output)
            return
        }
        if fleet {
            var settings = FleetBenchmark.Settings(executable: try UpCommand.ownExecutable())
            (settings.phones, settings.workers, settings.loadSeconds) = (phones, fleetWorkers, fleetSeconds)
            settings.warmUp = .seconds(warmUp)
            settings.freezeMoves = fleetFreezeMoves
            settings.between = .seconds(fleetBetween)
            settings.announce = fleetAnnounce
            let results = try await FleetBenchmark(settings: settings) { print("[bench fleet] \($0)") }
                .run(workDirectory: "/tmp/thaw-fleet-\(getpid())")
            try FleetBenchmark.print(results, to: output == "bench-results/system.json" ? "bench-results/fleet.json" : output)
            return
        }
        var settings = SystemBenchmark.Settings(executable: try UpCommand.ownExecutable())
        settings.workerCounts = try Self.integers(workers, "--workers")
        settings.users = users
        settings.batchesPerUser = batchesPerUser
        settings.samplesPerBatch = samplesPerBatch
        settings.epochs = epochs
        settings.evictionPhones = phones
        settings.memoryPhones = try Self.integers(memoryPhones, "--memory-phones")
        settings.warmUp = .seconds(warmUp)
        settings.historyBatches = historyBatches
        settings.deviceMeasurements = !skipDevices
        settings.database = database
        settings.registryCounts = try Self.integers(registries, "--registries")
        settings.headPullDuration = .seconds(headPullSeconds)
        let benchmark = SystemBenchmark(settings: settings) { print("[bench system] \($0)") }
        let results = try await benchmark.run(workDirectory: "/tmp/thaw-bench-\(getpid())")

        if let engine = results.engine {
            print(
                String(
                    format: "\nengine (HeadTrainer alone, 1 BLAS thread, %d new + %d replayed samples as a worker's "
                        + "round, %d epochs, batch %d): %.2f s, %.0f new samples/s (%.0f sample passes/s); "
                        + "without replay %.0f new samples/s",
                    engine.samples, engine.replayedSamples ?? 0, engine.epochs, engine.batchSize, engine.seconds,
                    engine.newSamplesPerSecond, engine.samplePassesPerSecond,
                    engine.newSamplesPerSecondWithoutReplay ?? 0))
            if let twoAtOnce = engine.twoAtOnceNewSamplesPerSecond, let ceiling = engine.twoAtOnceScaling {
                print(
                    String(
                        format: "two engines at once (2 threads, the same round each): %.0f new samples/s = %.2f× one: "
                            + "the machine's ceiling for 2 workers", twoAtOnce, ceiling))
            }
        }
        print("\nthroughput (FedAvg CNN, freeze point \(results.freezePoint), \(results.cores) cores)")
        print(
            "workers  batches  samples  seconds  new samples/s  ÷engine  ÷engine w/o replay  heads  load-gen CPU s  registry CPU s  "
                + "worker CPU s  machine busy  worker peak MiB")
        for row in results.throughput {
            print(
                String(
                    format: "%7d  %7d  %7d  %7.1f  %13.1f  %7.3f  %18.3f  %5d  %14.2f  %14.2f  %12@  %11.0f%%  %@", row.workers,
                    row.batches, row.samples, row.seconds, row.samplesPerSecond, row.engineRatio ?? 0, row.engineRatioWithoutReplay ?? 0,
                    row.headsCommitted, row.loadGeneratorCPUSeconds, row.registryCPUSeconds ?? 0,
                    (row.workerCPUSeconds ?? []).map { String(format: "%.2f", $0) }.joined(separator: ",") as NSString,
                    (row.machineBusyShare ?? 0) * 100,
                    row.workerPeakKiB.map { String($0 / 1024) }.joined(separator: ",") as NSString))
        }
        if let scaling = results.twoWorkerScaling {
            let ceiling = results.engine?.twoAtOnceScaling
            print(
                String(format: "2 workers ÷ 1 worker: %.2f×", scaling)
                    + (ceiling.map { String(format: " (two engines at once: %.2f×; the workers reach %.0f%% of it)", $0, scaling / $0 * 100) } ?? ""))
        }
        if database != nil {
            print("\nregistry backends (same batches, same workers, one run)")
            print(
                "workers  backend   registries  seconds  new samples/s  ÷SQLite  head pulls/s  ÷SQLite  registry CPU s  re-sent")
            for row in results.throughput {
                let base = results.throughput.first { $0.workers == row.workers && $0.backend == "sqlite" }
                print(
                    String(
                        format: "%7d  %-8@  %10d  %7.1f  %13.1f  %7.2f  %12.1f  %7.2f  %14.2f  %7d", row.workers,
                        (row.backend ?? "sqlite") as NSString, row.registries ?? 1, row.seconds, row.samplesPerSecond,
                        row.samplesPerSecond / (base?.samplesPerSecond ?? row.samplesPerSecond),
                        row.headPullsPerSecond ?? 0,
                        (row.headPullsPerSecond ?? 0) / (base?.headPullsPerSecond ?? row.headPullsPerSecond ?? 1),
                        row.registryCPUSeconds ?? 0, row.resentBatches ?? 0))
            }
        }
        if let history = results.history {
            print(
                String(
                    format: "\none user's batches one at a time (%d × %d samples, 1 worker): push → committed head "
                        + "1st %.0f ms, last %.0f ms; median of the first ten %.0f ms, of the last ten %.0f ms: "
                        + "last ten ÷ first ten %.2f",
                    history.batches, history.samplesPerBatch, history.firstMs, history.lastMs,
                    history.firstTenMedianMs ?? 0, history.lastTenMedianMs, history.ratio))
        }
        print("\nbroadcast-to-eviction latency")
        for row in results.eviction {
            print(
                String(
                    format: "%@: %d phones, %d entries evicted, p50 %.0f ms, p99 %.0f ms, max %.0f ms", row.change,
                    row.phones, row.evicted, row.latencyMs.p50, row.latencyMs.p99, row.latencyMs.max))
        }
        print("\ndevice process memory")
        for row in results.memory {
            print(String(format: "%5d phones: RSS %.1f MiB (peak %.1f MiB)", row.phones, Double(row.rssKiB) / 1024, Double(row.peakKiB) / 1024))
        }
        if let perPhone = results.memoryPerPhoneKiB { print(String(format: "per simulated phone: %.1f KiB", perPhone)) }

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let url = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(results).write(to: url)
        print("wrote \(output)")
    }

    static func integers(_ text: String, _ option: String) throws -> [Int] {
        let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("\(option) takes positive integers separated by commas, not \(text)")
        }
        return values.compactMap { $0 }
    }
}
