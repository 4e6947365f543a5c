import ArgumentParser
import Foundation
import ThawNN

/// `thaw bench train`: head training, backbone inference and whole-CNN training throughput, achieved GFLOP/s
/// beside the sgemm peak OpenBLAS reaches alone at the same thread count, heap allocations per step, peak
/// memory, and the same shapes in PyTorch in the same run.
///
/// Medians of `--runs` timed runs after one warm-up; the machine is shared, so ratios measured side
/// by side are the numbers to quote, not absolute rates.
struct BenchTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train", abstract: "Benchmark head training and backbone inference (Thaw vs PyTorch).")

    @Option(help: "Timed runs per measurement (median reported).") var runs: Int = 5
    @Option(help: "Write results as JSON to this file.") var output: String = "bench-results/train.json"
    @Option(help: "The PyTorch peer script (default: scripts/bench/torch_train.py found from the binary or source).")
    var torchScript: String?
    @Option(help: "Python interpreter for the peer, or a virtual environment folder holding bin/python3.")
    var python: String = "python3"
    @Option(help: "Thread counts to measure, comma-separated.") var threads: String = "1,2"
    @Option(help: "Cases to run, comma-separated (default: all of headSmall,headLarge,backbone,cnnTrain).")
    var cases: String?
    @Option(help: "With more than one thread, measure the CNN cases under these strategies, comma-separated (split: one part of the batch per thread; blas: OpenBLAS threads inside each GEMM). The first is the one compared with PyTorch.")
    var convThreading: String = "split,blas"
    @Flag(help: .hidden) var allocationProbe = false

    var strategies: [BatchSplit.Strategy] {
        convThreading.split(separator: ",").compactMap { name -> BatchSplit.Strategy? in
            switch name.trimmingCharacters(in: .whitespaces) {
            case "split": return .splitBatch
            case "blas": return .blasThreads
            default: return nil
            }
        }
    }

    struct Case {
        let name: String
        let architecture: ModelArchitecture
        /// Layers run; training cases train them all (freeze point 0).
        let layers: Range<Int>
        let training: Bool
        let batch: Int
        let steps: Int

        var hasConvolution: Bool {
            architecture.layers.contains { spec in
                if case .conv2D = spec { return true }
                return false
            }
        }

        /// FLOPs per sample: 2 per multiply-add, forward plus (when training) the backward pass without
        /// the first layer's input gradient, from the architecture's own cost table.
        var flopsPerSample: Double {
            let forward = architecture.forwardMACs(layers: layers)
            let backward = training ? architecture.backwardMACs(layers: layers) : 0
            return 2 * Double(forward + backward)
        }
    }

    static let cases = [
        Case(
            name: "headSmall", architecture: .mlpHead(inputs: 3136, hidden: 512, depth: 1, classes: 10),
            layers: 0..<3, training: true, batch: 64, steps: 20),
        Case(
            name: "headLarge", architecture: .mlpHead(inputs: 3136, hidden: 2048, depth: 2, classes: 100),
            layers: 0..<5, training: true, batch: 256, steps: 3),
        Case(name: "backbone", architecture: .fedAvgCNN(classes: 10), layers: 0..<7, training: false, batch: 64, steps: 5),
        Case(name: "cnnTrain", architecture: .fedAvgCNN(classes: 10), layers: 0..<10, training: true, batch: 64, steps: 3),
    ]

    var selectedCases: [Case] {
        guard let cases else { return Self.cases }
        let names = Set(cases.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        return Self.cases.filter { names.contains($0.name) }
    }

    var threadCounts: [Int] { threads.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be >= 1") }
        guard !threadCounts.isEmpty, threadCounts.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--threads must list positive counts, e.g. 1,2")
        }
        guard !strategies.isEmpty, strategies.count == convThreading.split(separator: ",").count else {
            throw ValidationError("--conv-threading must list split and/or blas, e.g. split,blas")
        }
    }

    func run() throws {
        if allocationProbe {
            print(try String(decoding: JSONSerialization.data(withJSONObject: allocationsPerStep()), as: UTF8.self))
            return
        }
        let peer = TorchPeer(python: python, script: torchScript)
        var results: [String: Any] = [
            "runs": runs,
            "command": CommandLine.arguments.joined(separator: " "),
            "loadAverageBefore": loadAverage(),
            "blas": [
                "coreName": BLAS.coreName, "config": BLAS.configuration,
                "OPENBLAS_CORETYPE": ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "unset",
                "OPENBLAS_L2_SIZE": ProcessInfo.processInfo.environment["OPENBLAS_L2_SIZE"] ?? "unset",
            ],
        ]
        print("OpenBLAS kernel: \(BLAS.coreName) (\(BLAS.configuration))")
        let allocations = cases == nil ? AllocationCounter.probe() : .init(result: [:], summary: "skipped (--cases)")
        results["allocationsPerStep"] = allocations.result
        print("allocations per step: \(allocations.summary)")
        for threadCount in threadCounts {
            BLAS.setThreadCount(threadCount)
            var row: [String: Any] = [:]
            let peak = sgemmPeak()
            row["sgemmPeakGFLOPS"] = peak
            let torch = peer.rates(threads: threadCount, runs: runs)
            row["torch"] = torch.json
            print("threads \(threadCount): sgemm peak (2048³) \(format(peak)) GFLOP/s")
            BatchSplit.strategy = strategies[0]
            row["convThreading"] = "\(strategies[0])"
            for c in selectedCases {
                let rate = samplesPerSecond(c)
                let gflops = rate * c.flopsPerSample / 1e9
                var figure: [String: Any] = [
                    "samplesPerSecond": rate, "GFLOPS": gflops, "fractionOfSgemmPeak": gflops / peak,
                ]
                var line = "  \(c.name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(format(rate)) samples/s, "
                line += "\(format(gflops)) GFLOP/s (\(format(100 * gflops / peak))% of sgemm peak \(format(peak)))"
                if let theirs = torch.rates?[c.name] {
                    figure["torchSamplesPerSecond"] = theirs
                    figure["torchGFLOPS"] = theirs * c.flopsPerSample / 1e9
                    figure["ratioThawOverTorch"] = rate / theirs
                    line += ", PyTorch \(format(theirs)) samples/s, Thaw/PyTorch \(format(rate / theirs))×"
                } else {
                    line += ", PyTorch unavailable"
                }
                if c.name == "headLarge" {
                    let bare = bareGEMMRate(c)
                    figure["bareGEMMGFLOPS"] = bare
                    figure["fractionOfBareGEMM"] = gflops / bare
                    line += "; the same GEMMs bare: \(format(bare)) GFLOP/s (step at \(format(100 * gflops / bare))%)"
                }
                print(line)
                row[c.name] = figure
            }
            // The CNN cases again under every other strategy, side by side with the first (heads have no conv).
            for strategy in strategies.dropFirst() where threadCount > 1 {
                BatchSplit.strategy = strategy
                for c in selectedCases where c.hasConvolution {
                    let rate = samplesPerSecond(c)
                    let gflops = rate * c.flopsPerSample / 1e9
                    var figure: [String: Any] = [
                        "samplesPerSecond": rate, "GFLOPS": gflops, "fractionOfSgemmPeak": gflops / peak,
                    ]
                    var line = "  \(c.name) with conv threading \(strategy): \(format(rate)) samples/s, \(format(gflops)) GFLOP/s"
                    if let first = (row[c.name] as? [String: Any])?["samplesPerSecond"] as? Double {
                        figure["ratioOverFirstStrategy"] = rate / first
                        line += " (\(format(rate / first))× the \(strategies[0]) figure)"
                    }
                    print(line)
                    row["\(c.name)_\(strategy)"] = figure
                }
            }
            BatchSplit.strategy = strategies[0]
            results["threads\(threadCount)"] = row
        }
        results["peakMemoryKB"] = peakMemoryKB()
        results["loadAverageAfter"] = loadAverage()
        let data = try JSONSerialization.data(withJSONObject: results, options: [.prettyPrinted, .sortedKeys])
        let url = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
        print("wrote \(output)")
    }

    func format(_ value: Double) -> String {
        value >= 100 ? String(Int(value.rounded())) : String(format: "%.2f", value)
    }

    func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

    func timed(_ body: () -> Void) -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        body()
        return (clock.now - start) / .seconds(1)
    }

    /// A case's model, input and labels, built once per measurement.
    func setUp(_ c: Case) -> (Model, Tensor, [Int]) {
        let model = Model(architecture: c.architecture, seed: 1)
        var generator = SeededGenerator(seed: 2)
        let shape = [c.batch] + c.architecture.inputShape
        let x = Tensor(shape: shape, scalars: (0..<Tensor.elementCount(shape)).map { _ in generator.nextUnitFloat() })
        let classes = c.architecture.activationShape(at: c.architecture.layers.count)[0]
        return (model, x, (0..<c.batch).map { $0 % classes })
    }

    /// One step of a case: a training step at freeze point 0, or an inference forward over its layers.
    static func step(_ c: Case, _ model: Model, _ x: Tensor, _ labels: [Int], _ sgd: inout SGD) {
        if c.training {
            model.trainStep(input: x, labels: labels, freezePoint: FreezePoint(0), optimizer: &sgd)
        } else {
            _ = model.forward(x, layers: c.layers, training: false)
        }
    }

    func samplesPerSecond(_ c: Case) -> Double {
        let (model, x, labels) = setUp(c)
        var sgd = SGD(learningRate: 0.01)
        var rates: [Double] = []
        for r in 0...runs {
            let seconds = timed { for _ in 0..<c.steps { Self.step(c, model, x, labels, &sgd) } }
            if r > 0 { rates.append(Double(c.batch * c.steps) / seconds) }
        }
        return median(rates)
    }

    /// GFLOP/s of exactly the GEMMs one head training step issues (forward x·Wᵀ per layer, dW = dyᵀ·x per
    /// layer, dx = dy·W for every layer but the first), called bare on the same shapes.
    func bareGEMMRate(_ c: Case) -> Double {
        var widths = [c.architecture.inputShape[0]]
        for spec in c.architecture.layers { if case .dense(_, let outputs) = spec { widths.append(outputs) } }
        let n = c.batch
        let biggest = widths.max()!
        let a = [Float](repeating: 0.01, count: n * biggest)
        let w = [Float](repeating: 0.01, count: biggest * biggest)
        var out = [Float](repeating: 0, count: biggest * biggest)
        var flops = 0.0
        for i in 0..<(widths.count - 1) {
            flops += 2 * Double(n * widths[i] * widths[i + 1]) * (i == 0 ? 2 : 3)
        }
        var rates: [Double] = []
        for r in 0...runs {
            let seconds = timed {
                a.withUnsafeBufferPointer { pa in
                    w.withUnsafeBufferPointer { pw in
                        out.withUnsafeMutableBufferPointer { po in
                            let (x, wt, o) = (pa.baseAddress!, pw.baseAddress!, po.baseAddress!)
                            for _ in 0..<c.steps {
                                for i in 0..<(widths.count - 1) {
                                    let (k, m) = (widths[i], widths[i + 1])
                                    BLAS.gemm(.none, .transposed, m: n, n: m, k: k, alpha: 1, a: x, lda: k, b: wt, ldb: k,
                                              beta: 1, c: o, ldc: m)
                                }
                                for i in (0..<(widths.count - 1)).reversed() {
                                    let (k, m) = (widths[i], widths[i + 1])
                                    BLAS.gemm(.transposed, .none, m: m, n: k, k: n, alpha: 1, a: x, lda: m, b: wt, ldb: k,
                                              beta: 1, c: o, ldc: k)
                                    if i > 0 {
                                        BLAS.gemm(.none, .none, m: n, n: k, k: m, alpha: 1, a: x, lda: m, b: wt, ldb: k,
                                                  beta: 0, c: o, ldc: k)
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if r > 0 { rates.append(flops * Double(c.steps) / seconds / 1e9) }
        }
        return median(rates)
    }

    /// GFLOP/s of one 2048³ sgemm at the current thread count: the ceiling the figures are compared with.
    func sgemmPeak() -> Double {
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

    /// Heap allocations per steady-state step of each case (run inside the probe child, where the counting
    /// shim is preloaded), after warm-up steps have sized every buffer.
    func allocationsPerStep() -> [String: Any] {
        guard let count = AllocationCounter.current else { return ["error": "malloc_count shim not loaded"] }
        var result: [String: Any] = [:]
        for threads in [1, 2] {
            BLAS.setThreadCount(threads)
            for c in Self.cases where c.name != "headLarge" && (threads == 1 || c.hasConvolution) {
                let (model, x, labels) = setUp(c)
                var sgd = SGD(learningRate: 0.01, momentum: 0.9)
                for _ in 0..<3 { Self.step(c, model, x, labels, &sgd) }
                // Two windows of different length: a per-step cost grows with the window, a one-off does not.
                var totals: [UInt64] = []
                for steps in [10, 40] {
                    let before = count()
                    for _ in 0..<steps { Self.step(c, model, x, labels, &sgd) }
                    totals.append(count() - before)
                }
                result[c.name + (c.training ? "Training" : "Inference") + (threads == 1 ? "" : "\(threads)Threads")] = [
                    "allocationsIn10Steps": totals[0], "allocationsIn40Steps": totals[1],
                    "perStep": Double(totals[1]) / 40,
                ]
            }
        }
        BLAS.setThreadCount(1)
        // Control: ten fresh arrays must count as ten, or the shim is not seeing this process's allocations.
        let before = count()
        var sink = 0
        for i in 0..<10 { sink &+= [Float](repeating: Float(i), count: 1000 + i).count }
        result["controlTenArrays"] = count() - before
        result["controlSink"] = sink
        return result
    }

    /// VmHWM (peak resident set) of this process in kB, from /proc/self/status.
    func peakMemoryKB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
        }
        return -1
    }

    /// The 1, 5 and 15 minute load averages, to show how busy the shared machine was.
    func loadAverage() -> String {
        ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "unknown")
            .split(separator: " ").prefix(3).joined(separator: " ")
    }
}
