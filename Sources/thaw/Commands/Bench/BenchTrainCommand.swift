import ArgumentParser
import Foundation
import ThawNN

/// `thaw bench train`: head-training and backbone throughput, achieved GFLOP/s against the sgemm
/// peak OpenBLAS reaches alone, peak memory, and the same shapes in PyTorch in the same run.
///
/// Medians of `--runs` timed runs after one warm-up; the machine is shared, so ratios measured side
/// by side are the numbers to quote, not absolute rates.
struct BenchTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Benchmark head training and backbone inference (Thaw vs PyTorch).")

    @Option(help: "Timed runs per measurement (median reported).") var runs: Int = 5
    @Option(help: "Write results as JSON to this file.") var output: String = "bench-results/train.json"
    @Option(help: "The PyTorch peer script.") var torchScript: String = "scripts/bench/torch_train.py"
    @Option(help: "Python interpreter for the peer.") var python: String = "python3"

    struct HeadCase {
        let name: String
        let hidden: Int
        let depth: Int
        let classes: Int
        let batch: Int
        let steps: Int
    }

    static let cases = [
        HeadCase(name: "headSmall", hidden: 512, depth: 1, classes: 10, batch: 64, steps: 20),
        HeadCase(name: "headLarge", hidden: 2048, depth: 2, classes: 100, batch: 256, steps: 3),
    ]

    func validate() throws { guard runs >= 1 else { throw ValidationError("--runs must be >= 1") } }

    func run() throws {
        var results: [String: Any] = ["runs": runs]
        let peak = sgemmPeak()
        results["sgemmPeakGFLOPS1Thread"] = peak
        for threads in [1, 2] {
            BLAS.setThreadCount(threads)
            var row: [String: Any] = [:]
            for c in Self.cases {
                let rate = headRate(c)
                row[c.name] = rate
                row[c.name + "GFLOPS"] = rate * headFlops(c) / 1e9
            }
            row["backbone"] = backboneRate()
            if let torch = torchRates(threads: threads) {
                row["torch"] = torch
                for key in ["headSmall", "headLarge", "backbone"] {
                    if let t = torch[key] as? Double, let mine = row[key] as? Double { row[key + "RatioThawOverTorch"] = mine / t }
                }
            } else {
                row["torch"] = "unavailable (pip install torch==2.13.0+cpu)"
            }
            results["threads\(threads)"] = row
            print("threads \(threads): \(row)")
        }
        results["peakMemoryKB"] = peakMemoryKB()
        results["openblasCoretype"] = ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "unset"
        let data = try JSONSerialization.data(withJSONObject: results, options: [.prettyPrinted, .sortedKeys])
        let url = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
        print(String(decoding: data, as: UTF8.self))
    }

    /// Dense FLOPs per trained sample: forward 2·in·out, weight gradient 2·in·out, input gradient
    /// 2·in·out except for the first layer (nothing upstream is trained).
    func headFlops(_ c: HeadCase) -> Double {
        let widths = [3136] + Array(repeating: c.hidden, count: c.depth) + [c.classes]
        var flops = 0.0
        for i in 0..<(widths.count - 1) {
            let mac = Double(widths[i] * widths[i + 1])
            flops += (i == 0 ? 4 : 6) * mac
        }
        return flops
    }

    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    func timed(_ body: () -> Void) -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        body()
        return (clock.now - start) / .seconds(1)
    }

    func headRate(_ c: HeadCase) -> Double {
        let model = Model(architecture: .mlpHead(inputs: 3136, hidden: c.hidden, depth: c.depth, classes: c.classes), seed: 1)
        var generator = SeededGenerator(seed: 2)
        let x = Tensor(shape: [c.batch, 3136], scalars: (0..<(c.batch * 3136)).map { _ in generator.nextUnitFloat() })
        let labels = (0..<c.batch).map { $0 % c.classes }
        var sgd = SGD(learningRate: 0.01)
        var rates: [Double] = []
        for r in 0...runs {
            let seconds = timed {
                for _ in 0..<c.steps { model.trainStep(input: x, labels: labels, freezePoint: FreezePoint(0), optimizer: &sgd) }
            }
            if r > 0 { rates.append(Double(c.batch * c.steps) / seconds) }
        }
        return median(rates)
    }

    func backboneRate() -> Double {
        let model = Model(architecture: .fedAvgCNN(classes: 10), seed: 1)
        let batch = 64
        var generator = SeededGenerator(seed: 3)
        let x = Tensor(shape: [batch, 1, 28, 28], scalars: (0..<(batch * 784)).map { _ in generator.nextUnitFloat() })
        var rates: [Double] = []
        for r in 0...runs {
            let seconds = timed { for _ in 0..<5 { _ = model.forward(x, layers: 0..<7, training: false) } }
            if r > 0 { rates.append(Double(batch * 5) / seconds) }
        }
        return median(rates)
    }

    /// GFLOP/s of one 2048³ sgemm on one thread: the ceiling the head training is compared with.
    func sgemmPeak() -> Double {
        BLAS.setThreadCount(1)
        let n = 2048
        let a = [Float](repeating: 0.5, count: n * n)
        let b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        var rates: [Double] = []
        for r in 0...runs {
            let seconds = timed {
                a.withUnsafeBufferPointer { pa in
                    b.withUnsafeBufferPointer { pb in
                        c.withUnsafeMutableBufferPointer { pc in
                            BLAS.gemm(.none, .none, m: n, n: n, k: n, alpha: 1, a: pa.baseAddress!, lda: n,
                                      b: pb.baseAddress!, ldb: n, beta: 0, c: pc.baseAddress!, ldc: n)
                        }
                    }
                }
            }
            if r > 0 { rates.append(2 * Double(n * n * n) / seconds / 1e9) }
        }
        return median(rates)
    }

    func torchRates(threads: Int) -> [String: Any]? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, torchScript, "--threads", "\(threads)", "--runs", "\(runs)"]
        let pipe = Pipe()
        process.standardOutput = pipe
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            print("PyTorch peer unavailable: \(String(decoding: data, as: UTF8.self))")
            return nil
        }
        return object
    }

    /// VmHWM (peak resident set) of this process in kB, from /proc/self/status.
    func peakMemoryKB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
        }
        return -1
    }
}
