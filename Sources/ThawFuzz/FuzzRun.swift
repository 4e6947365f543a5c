import Foundation
import ThawNodes

/// A seeded mutation-fuzzing run of one ``FuzzTarget``.
///
/// Input `i` is a mutation (``FuzzMutator``) of an entry of the pool: the seeds, the corpus, and every
/// input that produced an outcome not seen before (a new refusal code, or a first accepted mutant),
/// which is this fuzzer's stand-in for coverage feedback. Everything is a function of the seed, so a
/// run, and the input at any index, can be reproduced. A trap ends the process (that is the crash
/// report, with the last progress line bounding the index); a broken round trip throws.
public struct FuzzRun {
    public struct Report: Sendable {
        public var target: FuzzTarget
        public var seed: UInt64
        public var runs: Int
        public var accepted: Int
        /// How many inputs each error code refused.
        public var refused: [String: Int]
        /// Inputs that found a new outcome, as (name, frames), worth keeping in a corpus.
        public var discoveries: [(name: String, frames: [[UInt8]])]
        public var seconds: Double
        /// The process's peak resident set size when the run ended.
        public var peakResidentBytes: Int
        /// The largest input tried, in bytes (all frames).
        public var largestInput: Int
    }

    public let target: FuzzTarget
    public let seed: UInt64
    /// Most pool entries kept from discoveries (older ones stay; later discoveries are only counted).
    public var maxPool = 512

    public init(target: FuzzTarget, seed: UInt64) {
        self.target = target
        self.seed = seed
    }

    /// Runs `runs` inputs built from the seeds plus `corpus`.
    /// - Parameter progress: called every `progressEvery` inputs with the count so far.
    /// - Throws: ``FuzzFailure`` on the first input that breaks the property.
    public func run(
        runs: Int, corpus: [[[UInt8]]] = [], progressEvery: Int = 100_000, progress: (Int) -> Void = { _ in }
    ) throws(FuzzFailure) -> Report {
        var pool = target.seeds + corpus
        var report = Report(
            target: target, seed: seed, runs: 0, accepted: 0, refused: [:], discoveries: [], seconds: 0,
            peakResidentBytes: 0, largestInput: 0)
        var seen: Set<FuzzTarget.Outcome> = []
        // The unmutated pool first: seeds must be accepted, and their outcomes are not discoveries.
        for entry in pool { seen.insert(try target.run(entry)) }
        let start = ContinuousClock.now
        for index in 0..<runs {
            let input = Self.input(at: index, seed: seed, target: target, pool: pool)
            report.largestInput = max(report.largestInput, input.reduce(0) { $0 + $1.count })
            let outcome = try target.run(input)
            switch outcome {
            case .accepted: report.accepted += 1
            case .refused(let code): report.refused[code, default: 0] += 1
            }
            if seen.insert(outcome).inserted {
                let name: String
                switch outcome {
                case .accepted: name = "accepted-\(index)"
                case .refused(let code): name = "\(code)-\(index)"
                }
                report.discoveries.append((name, input))
                if pool.count < maxPool { pool.append(input) }
            }
            report.runs = index + 1
            if (index + 1) % progressEvery == 0 { progress(index + 1) }
        }
        report.seconds = (ContinuousClock.now - start) / .seconds(1)
        report.peakResidentBytes = Self.peakResidentBytes()
        return report
    }

    /// Input number `index` of a run with this seed and corpus (the inputs before it are replayed,
    /// because the pool they grow decides what `index` mutates).
    /// - Throws: ``FuzzFailure`` if an earlier input breaks the property.
    public func input(at index: Int, corpus: [[[UInt8]]] = []) throws(FuzzFailure) -> [[UInt8]] {
        var pool = target.seeds + corpus
        var seen: Set<FuzzTarget.Outcome> = []
        for entry in pool { seen.insert(try target.run(entry)) }
        for earlier in 0..<index {
            let input = Self.input(at: earlier, seed: seed, target: target, pool: pool)
            if seen.insert(try target.run(input)).inserted, pool.count < maxPool { pool.append(input) }
        }
        return Self.input(at: index, seed: seed, target: target, pool: pool)
    }

    /// Input number `index` of a run: a function of the seed, the index and the pool at that point.
    static func input(at index: Int, seed: UInt64, target: FuzzTarget, pool: [[[UInt8]]]) -> [[UInt8]] {
        var mutator = FuzzMutator(seed: seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15) ^ 0x5EED)
        let base = pool[mutator.below(pool.count)]
        let other = pool[mutator.below(pool.count)]
        let mutated = mutator.mutate(base, other: other)
        return target.reseal(mutated, coin: mutator.below(2) == 0)
    }

    /// Peak resident set size of this process (VmHWM), in bytes; 0 where /proc is not available.
    static func peakResidentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
        else { return 0 }
        let digits = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
        return digits * 1024
    }
}
