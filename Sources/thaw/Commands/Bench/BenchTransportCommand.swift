import ArgumentParser
import Foundation

/// `thaw bench transport`: PUSH/PULL throughput between two processes, Thaw against libzmq's own
/// C pair (`scripts/bench/zmq_thr.c`), side by side in one run.
struct BenchTransportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transport",
        abstract: "Measure PUSH/PULL throughput of Thaw against libzmq's C throughput test."
    )

    @Option(help: "Where to write the JSON results.")
    var output: String = "bench-results/transport.json"

    @Option(help: "Runs per configuration; the median is reported.")
    var runs: Int = 5

    @Option(help: "Multiplier for the per-size message counts (1.0 keeps the run under about 2 minutes).")
    var scale: Double = 1.0

    @Option(help: "Transports to measure (tcp, ipc).")
    var transports: [String] = ["tcp", "ipc"]

    @Option(help: "The C reference program, compiled with `cc -O2 … -lzmq`.")
    var cSource: String = "scripts/bench/zmq_thr.c"

    @Option(help: "The Thaw sender's frame: shared (Frame.sharing: no allocation per send) or copy (Frame([UInt8]): zmq_send allocates and copies).")
    var senderFrame: String = "shared"

    @Option(help: "The heap allocation counter preloaded into the allocation probe's peers.")
    var mallocCountSource: String = "scripts/bench/malloc_count.c"

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
        guard scale > 0 else { throw ValidationError("--scale must be positive") }
        guard ["shared", "copy"].contains(senderFrame) else { throw ValidationError("--sender-frame takes shared or copy") }
        guard transports.allSatisfy({ ["tcp", "ipc"].contains($0) }) else {
            throw ValidationError("--transports takes tcp and/or ipc")
        }
    }

    /// Message sizes and counts, scaled so each run takes a fraction of a second.
    static let workloads: [(size: Int, count: Int)] = [
        (64, 500_000), (4 * 1024, 100_000), (64 * 1024, 10_000), (1024 * 1024, 1_000),
    ]

    struct Row: Codable {
        let transport: String
        let size: Int
        let count: Int
        let libzmq: Summary
        let thawBorrow: Summary
        let thawFrame: Summary
        /// Thaw (borrowing receive) over libzmq, medians.
        let ratio: Double
        /// Thaw (owned `Frame` receive) over libzmq, medians.
        let ratioFrame: Double
        /// Heap allocations per message in the Thaw sender's and receiver's processes (libzmq's I/O
        /// thread included), from one extra run with `malloc_count.c` preloaded; nil when unavailable.
        let thawSenderAllocationsPerMessage: Double?
        let thawReceiverAllocationsPerMessage: Double?
        /// The same counts for libzmq's own pair (`zmq_thr` with the counter preloaded).
        let libzmqSenderAllocationsPerMessage: Double?
        let libzmqReceiverAllocationsPerMessage: Double?
    }

    struct Summary: Codable {
        let medianMessagesPerSecond: Double
        let medianMegabytesPerSecond: Double
        let runsMessagesPerSecond: [Double]
    }

    struct Report: Codable {
        let command: String
        let date: String
        let runs: Int
        let rows: [Row]
    }

    mutating func run() async throws {
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        let binary = try compileReference()
        let counter = compileAllocationCounter()
        defer { if let counter { try? FileManager.default.removeItem(at: counter) } }
        var rows: [Row] = []
        var ipcCounter = 0
        print(
            "transport  size      libzmq msg/s   thaw msg/s   thaw MB/s  ratio  (Frame API ratio)  allocations/msg send, receive: thaw | libzmq")
        for transport in transports {
            for workload in Self.workloads {
                let count = max(10, Int(Double(workload.count) * scale))
                var libzmq: [Double] = []
                var borrow: [Double] = []
                var frame: [Double] = []
                for _ in 0..<runs {
                    func endpoint() -> String {
                        ipcCounter += 1
                        return transport == "tcp"
                            ? "tcp://127.0.0.1:*" : "ipc:///tmp/thaw-bench-\(getpid())-\(ipcCounter)"
                    }
                    // Interleaved so machine noise hits all three alike.
                    let cSeconds = try await TransportMeasurement.libzmq(
                        endpoint: endpoint(), size: workload.size, count: count, binary: binary)
                    libzmq.append(Double(count) / cSeconds)
                    let borrowSeconds = try await TransportMeasurement.thaw(
                        endpoint: endpoint(), size: workload.size, count: count, api: .borrow, executable: executable,
                        senderFrame: senderFrame)
                    borrow.append(Double(count) / borrowSeconds)
                    let frameSeconds = try await TransportMeasurement.thaw(
                        endpoint: endpoint(), size: workload.size, count: count, api: .frame, executable: executable,
                        senderFrame: senderFrame)
                    frame.append(Double(count) / frameSeconds)
                }
                var allocations: (sender: Double, receiver: Double)?
                var cAllocations: (sender: Double, receiver: Double)?
                if let counter {
                    ipcCounter += 1
                    let endpoint =
                        transport == "tcp" ? "tcp://127.0.0.1:*" : "ipc:///tmp/thaw-bench-\(getpid())-\(ipcCounter)"
                    do {
                        ipcCounter += 1
                        let cEndpoint =
                            transport == "tcp" ? "tcp://127.0.0.1:*" : "ipc:///tmp/thaw-bench-\(getpid())-\(ipcCounter)"
                        cAllocations = try await TransportMeasurement.libzmqAllocations(
                            endpoint: cEndpoint, size: workload.size, count: count, binary: binary, library: counter)
                        allocations = try await TransportMeasurement.allocations(
                            endpoint: endpoint, size: workload.size, count: count, executable: executable, library: counter,
                            senderFrame: senderFrame)
                    } catch {
                        FileHandle.standardError.write(Data("allocation probe failed: \(error)\n".utf8))
                    }
                }
                let row = Row(
                    transport: transport, size: workload.size, count: count,
                    libzmq: summary(libzmq, size: workload.size),
                    thawBorrow: summary(borrow, size: workload.size),
                    thawFrame: summary(frame, size: workload.size),
                    ratio: median(borrow) / median(libzmq),
                    ratioFrame: median(frame) / median(libzmq),
                    thawSenderAllocationsPerMessage: allocations?.sender,
                    thawReceiverAllocationsPerMessage: allocations?.receiver,
                    libzmqSenderAllocationsPerMessage: cAllocations?.sender,
                    libzmqReceiverAllocationsPerMessage: cAllocations?.receiver)
                rows.append(row)
                print(format(row))
            }
        }
        for number in 1...max(ipcCounter, 1) { unlink("/tmp/thaw-bench-\(getpid())-\(number)") }
        let report = Report(
            command: "thaw bench transport --runs \(runs) --scale \(scale) --sender-frame \(senderFrame)",
            date: ISO8601DateFormatter().string(from: Date()), runs: runs, rows: rows)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let url = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(report).write(to: url)
        print("wrote \(output)")
    }

    /// Compiles `malloc_count.c` into a temporary shared library; nil (and a note) when that fails.
    private func compileAllocationCounter() -> URL? {
        let library = FileManager.default.temporaryDirectory.appendingPathComponent("thaw-transport-malloc-\(getpid()).so")
        let compiler = Process()
        compiler.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        compiler.arguments = ["cc", "-O2", "-shared", "-fPIC", "-o", library.path, mallocCountSource]
        guard (try? compiler.run()) != nil else { return nil }
        compiler.waitUntilExit()
        guard compiler.terminationStatus == 0 else {
            FileHandle.standardError.write(Data("allocation counts unavailable: cc failed on \(mallocCountSource)\n".utf8))
            return nil
        }
        return library
    }

    /// Compiles `zmq_thr.c` into `bench-results/tmp/` with the system compiler.
    private func compileReference() throws -> URL {
        let directory = URL(fileURLWithPath: "bench-results/tmp")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let binary = directory.appendingPathComponent("zmq_thr")
        let compiler = Process()
        compiler.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        compiler.arguments = ["cc", "-O2", "-o", binary.path, cSource, "-lzmq", "-ldl"]
        try compiler.run()
        compiler.waitUntilExit()
        guard compiler.terminationStatus == 0 else {
            throw ValidationError("cc failed to compile \(cSource) (exit \(compiler.terminationStatus))")
        }
        return binary
    }

    private func summary(_ values: [Double], size: Int) -> Summary {
        let middle = median(values)
        return Summary(
            medianMessagesPerSecond: middle, medianMegabytesPerSecond: middle * Double(size) / 1e6,
            runsMessagesPerSecond: values)
    }

    private func format(_ row: Row) -> String {
        func pad(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
        }
        let size = row.size >= 1 << 20 ? "\(row.size >> 20) MiB" : row.size >= 1024 ? "\(row.size >> 10) KiB" : "\(row.size) B"
        return [
            row.transport.padding(toLength: 9, withPad: " ", startingAt: 0), pad(size, 7),
            pad(String(format: "%.0f", row.libzmq.medianMessagesPerSecond), 15),
            pad(String(format: "%.0f", row.thawBorrow.medianMessagesPerSecond), 12),
            pad(String(format: "%.1f", row.thawBorrow.medianMegabytesPerSecond), 11),
            pad(String(format: "%.2fx", row.ratio), 6), pad(String(format: "(%.2fx)", row.ratioFrame), 9),
            pad(
                [row.thawSenderAllocationsPerMessage, row.thawReceiverAllocationsPerMessage]
                    .map { $0.map { String(format: "%.4f", $0) } ?? "-" }.joined(separator: ", ")
                    + " | "
                    + [row.libzmqSenderAllocationsPerMessage, row.libzmqReceiverAllocationsPerMessage]
                    .map { $0.map { String(format: "%.4f", $0) } ?? "-" }.joined(separator: ", "), 34),
        ].joined(separator: " ")
    }
}

/// The median of `values` (mean of the middle two for an even count).
private func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
