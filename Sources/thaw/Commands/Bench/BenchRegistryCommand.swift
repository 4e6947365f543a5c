import ArgumentParser
import Foundation
import ThawBench

/// `thaw bench registry`: not-modified head pulls per second and their latency, the registry alone.
struct BenchRegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry",
        abstract: "Benchmark the registry: not-modified head pulls from many concurrent DEALER clients over ipc.")

    @Option(help: "The thaw executable that runs the registry (default: this one); pass an older build to compare.")
    var registryExecutable: String?
    @Option(help: "Concurrent DEALER clients, one request in flight each.") var clients: Int = 100
    @Option(help: "Users with a head (client i pulls user i mod users).") var users: Int = 100
    @Option(help: "Freeze point of the seeded heads (fedAvgCNN: 7 = 6.4 MB heads, 8 = 20 KB).") var freezePoint: Int = 7
    @Option(help: "Measured seconds (each phase).") var seconds: Double = 10
    @Option(
        help:
            "Pulls per second offered in a second, open-loop phase over the same clients (latency at a fixed rate); 0 skips it."
    ) var offeredRate: Double = 10_000
    @Option(help: "Write results as JSON to this file.") var output: String = "bench-results/registry.json"
    @Option(help: "A label for this run in the JSON (e.g. before, after).") var label: String = "run"

    func validate() throws {
        guard clients >= 1, users >= 1, seconds > 0 else {
            throw ValidationError("clients, users and seconds must be positive")
        }
        guard offeredRate >= 0 else { throw ValidationError("--offered-rate must not be negative") }
        guard (1...9).contains(freezePoint) else { throw ValidationError("--freeze-point must be in 1...9") }
    }

    func run() async throws {
        let executable = registryExecutable ?? CommandLine.arguments[0]
        let bench = RegistryBenchmark(
            executable: executable, clients: clients, users: users, freezePoint: freezePoint, seconds: seconds,
            scratch: "/tmp", offeredRate: offeredRate)
        let result = try await bench.run { print($0) }
        print(
            String(
                format:
                    "%@: %d pulls in %.1f s = %.0f pulls/s (%d not-modified); latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms",
                label, result.pulls, result.seconds, result.pullsPerSecond, result.notModified, result.p50Ms,
                result.p90Ms,
                result.p99Ms, result.maxMs))
        if let open = result.openLoop {
            print(
                String(
                    format:
                        "%@ open loop: %.0f pulls/s offered, %.0f answered (%d pulls, %d unanswered); latency from the due time p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms",
                    label, open.offeredPerSecond, open.answeredPerSecond, open.pulls, open.unanswered, open.p50Ms,
                    open.p90Ms, open.p99Ms, open.maxMs)
                    + (open.senderLateP99Ms.map { String(format: " (sender lateness p99 %.2f ms, included)", $0) } ?? ""))
        }
        struct Entry: Codable {
            var label: String
            var date: String
            var openblasCoretype: String
            var result: RegistryBenchmark.Result
        }
        // Runs accumulate in one file, so a before/after pair measured side by side stays together.
        let url = URL(fileURLWithPath: output)
        var entries = (try? JSONDecoder().decode([Entry].self, from: Data(contentsOf: url))) ?? []
        entries.append(
            Entry(
                label: label, date: ISO8601DateFormatter().string(from: Date()),
                openblasCoretype: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "unset", result: result))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(entries).write(to: url)
        print("wrote \(output)")
    }
}
