import ArgumentParser
import Foundation
import ThawFuzz
import ThawNodes

/// `thaw fuzz TARGET`: seeded mutation fuzzing of a decoder (see docs/RELIABILITY.md).
struct FuzzCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fuzz",
        abstract: "Fuzz a decoder with seeded mutations of valid inputs; exits non-zero on a broken property.",
        discussion: """
            Targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")). A crash (trap) ends the \
            process with a backtrace; the last progress line bounds the input index, and --dump-input \
            reproduces any input of a run.
            """)

    @Argument(help: "What to fuzz: wire, published, model or device-cache.")
    var target: String

    @Option(help: "How many mutated inputs to try.")
    var runs: Int = 100_000

    @Option(help: "The run's seed; a run is a function of its seed and corpus.")
    var seed: UInt64 = 1

    @Option(help: "A corpus folder with one sub-folder per target (e.g. scripts/fuzz/corpus).")
    var corpus: String?

    @Option(help: "Write the seeds and every input that found a new outcome into this corpus folder.")
    var writeCorpus: String?

    @Option(help: "Fail when the peak resident memory exceeds this many MiB.")
    var maxMemoryMib: Int = 512

    @Option(help: "Write input number N of this run (same seed and corpus) to --out instead of fuzzing.")
    var dumpInput: Int?

    @Option(help: "Where --dump-input writes the input (frame container, see FuzzCorpus).")
    var out: String = "fuzz-input.fz"

    func validate() throws {
        guard FuzzTarget(rawValue: target) != nil else {
            throw ValidationError("unknown target '\(target)'; one of \(FuzzTarget.allCases.map(\.rawValue))")
        }
        guard runs > 0 else { throw ValidationError("--runs must be positive") }
    }

    func run() throws {
        let fuzzTarget = FuzzTarget(rawValue: target)!
        let inputs = try corpus.map { try FuzzCorpus.load($0, target: fuzzTarget) } ?? []
        let fuzz = FuzzRun(target: fuzzTarget, seed: seed)
        if let index = dumpInput {
            let frames = try fuzz.input(at: index, corpus: inputs)
            try Data(FuzzCorpus.encode(frames)).write(to: URL(fileURLWithPath: out))
            print("wrote input \(index) of \(target) seed \(seed) to \(out)")
            return
        }
        print("fuzz \(target): \(runs) inputs, seed \(seed), \(fuzzTarget.seeds.count) seeds + \(inputs.count) corpus")
        let report: FuzzRun.Report
        do {
            report = try fuzz.run(runs: runs, corpus: inputs) { done in print("  \(done) inputs, no crash") }
        } catch {
            print("FAILED: \(error)")
            let file = "fuzz-failure-\(target).fz"
            try Data(FuzzCorpus.encode(error.input)).write(to: URL(fileURLWithPath: file))
            print("the input is in \(file)")
            throw ExitCode.failure
        }
        let refused = report.refused.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }
        print(
            String(
                format:
                    "%@: %d inputs in %.1f s (%.0f/s), %d accepted, %d refused, peak RSS %.0f MiB, largest input %d B",
                target, report.runs, report.seconds, Double(report.runs) / max(report.seconds, 0.001), report.accepted,
                report.refused.values.reduce(0, +), Double(report.peakResidentBytes) / 1_048_576, report.largestInput))
        print("refusals by code: \(refused.joined(separator: ", "))")
        if let writeCorpus {
            let seeds = fuzzTarget.seeds.enumerated().map { (name: "seed-\($0.offset)", frames: $0.element) }
            try FuzzCorpus.save(seeds + report.discoveries, to: writeCorpus, target: fuzzTarget)
            print("wrote \(seeds.count + report.discoveries.count) inputs to \(writeCorpus)/\(target)")
        }
        guard report.peakResidentBytes <= maxMemoryMib << 20 else {
            print("FAILED: peak RSS \(report.peakResidentBytes >> 20) MiB exceeds --max-memory-mib \(maxMemoryMib)")
            throw ExitCode.failure
        }
    }
}
