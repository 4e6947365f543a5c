import Foundation

/// Decides whether a phone swaps in a head it pulled, by comparing it with the head it runs on the
/// phone's validation share: annotated samples the phone keeps to itself and never uploads, so no head
/// was trained on them.
///
/// Pure: the glue runs both heads on the validation samples' cached activations and hands the per-sample
/// outcomes in as ``Evidence``; the gate only counts.
///
/// **Rule.** Let `wins` be the validation samples the candidate classifies right and the current head
/// wrong, `losses` the opposite. Swap iff
///
/// 1. `wins − losses ≥ margin` (margin ≥ 1): the candidate is right on at least `margin` more validation
///    samples; or
/// 2. (the likelihood tie-break, on unless `tieBreakConfidence` is nil) `losses = 0` and the candidate gives
///    the true labels a higher likelihood with confidence: with `g_i = ln p_candidate(y_i) − ln p_current(y_i)`
///    over the n validation samples, `mean(g) − z · sd(g)/√n > 0` (z = `tieBreakConfidence`, sd with n − 1).
///
/// Everything else keeps the current head, and so does a phone with no validation samples. Part 2 exists
/// because a phone holds only a handful of validation samples: against a general model that is right on
/// 99 % of digits, both heads are usually right on all of them, and counting alone then keeps the general
/// head forever (measured: 1 swap for 297 writers). The likelihoods still tell a head that fits the user's
/// handwriting better from one that does not, and `losses = 0` keeps a head that breaks any validation
/// digit out.
///
/// **False-swap rate.** Part 1: only the `d = wins + losses` discordant samples matter. If on each of them the
/// candidate is right with probability p independently, it is swapped in with probability
/// P(2·Bin(d, p) − d ≥ margin) (``falseSwapProbability(discordant:margin:winProbability:)``). For a head
/// that is in truth no better (p = ½) and margin 1 this is at most ½ (exactly ½ for odd d; 25 %, 31 %,
/// 38 % for d = 2, 4, 10); swapping such a head costs nothing in expectation. For a head that is truly
/// worse it falls fast: p = 0.3 gives 30 % at d = 1, 9 % at d = 2, 8 % at d = 4, 5 % at d = 10.
/// Part 2 is a one-sided t-test at critical value z: for gains that are in truth zero-mean and roughly
/// normal it passes with probability P(t_{n−1} > z), 16–19 % for z = 1 and n ≥ 5, and for a candidate
/// whose mean gain is negative far less (the unit tests measure both on synthetic heads). The rate measured
/// on real heads (swapped, yet worse on the user's held-out samples) is in docs/LEARNING.md.
public struct HeadSwapGate: Sendable, Equatable {
    /// Share of a user's annotated samples kept on the phone for validation, in [0, 1).
    public var validationShare: Double
    /// How many more validation samples the candidate must get right (≥ 1).
    public var margin: Int
    /// Critical value z of the likelihood tie-break (part 2 of the rule); nil turns it off, so that only
    /// counts decide (the rule before it).
    public var tieBreakConfidence: Double?
    /// Salt of the validation choice (the same sample is validation on every restart).
    public var seed: UInt64

    public init(validationShare: Double = 0.3, margin: Int = 1, tieBreakConfidence: Double? = 1, seed: UInt64 = 0) {
        precondition(validationShare >= 0 && validationShare < 1, "validation share must be in [0, 1)")
        precondition(margin >= 1, "a swap needs at least one more right answer")
        precondition(tieBreakConfidence.map { $0 >= 0 && $0.isFinite } ?? true, "the tie-break's z must be finite and >= 0")
        self.validationShare = validationShare
        self.margin = margin
        self.tieBreakConfidence = tieBreakConfidence
        self.seed = seed
    }

    /// Whether the annotated sample `sampleId` belongs to the validation share: a fixed hash of the id and
    /// the seed, so the choice does not depend on arrival order and survives restarts.
    public func isValidation(sampleId: UInt64) -> Bool {
        guard validationShare > 0 else { return false }
        var z = sampleId &+ seed &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Double(z >> 11) / Double(1 << 53) < validationShare
    }

    /// Both heads' outcomes on the same validation samples.
    public struct Evidence: Sendable, Equatable {
        public var samples: Int
        /// Right with the candidate, wrong with the current head.
        public var wins: Int
        /// Right with the current head, wrong with the candidate.
        public var losses: Int
        /// Per validation sample, `ln p_candidate(label) − ln p_current(label)`; empty when only predicted
        /// classes were compared (then the likelihood tie-break cannot swap).
        public var logLikelihoodGains: [Double]

        public init(samples: Int, wins: Int, losses: Int, logLikelihoodGains: [Double] = []) {
            precondition(samples >= 0 && wins >= 0 && losses >= 0 && wins + losses <= samples, "inconsistent evidence")
            precondition(logLikelihoodGains.isEmpty || logLikelihoodGains.count == samples, "one gain per sample")
            self.samples = samples
            self.wins = wins
            self.losses = losses
            self.logLikelihoodGains = logLikelihoodGains
        }

        /// From per-sample correctness of the current head and the candidate, in the same sample order.
        public init(currentRight: [Bool], candidateRight: [Bool]) {
            precondition(currentRight.count == candidateRight.count, "both heads must answer the same samples")
            var wins = 0
            var losses = 0
            for (current, candidate) in zip(currentRight, candidateRight) where current != candidate {
                if candidate { wins += 1 } else { losses += 1 }
            }
            self.init(samples: currentRight.count, wins: wins, losses: losses)
        }

        /// From predicted classes of both heads and the true labels.
        public init(labels: [Int], current: [Int], candidate: [Int]) {
            precondition(labels.count == current.count && labels.count == candidate.count, "one prediction per label")
            self.init(currentRight: zip(current, labels).map { $0 == $1 },
                      candidateRight: zip(candidate, labels).map { $0 == $1 })
        }

        /// From both heads' class probabilities (softmax rows, one per label, same order): predictions are
        /// the argmax (first on ties), gains the log-ratio of the true label's probabilities (floored at
        /// 1e-12, so a zero probability is a large but finite loss).
        public init(labels: [Int], currentProbabilities: [[Double]], candidateProbabilities: [[Double]]) {
            precondition(labels.count == currentProbabilities.count && labels.count == candidateProbabilities.count,
                         "one probability row per label")
            func argmax(_ row: [Double]) -> Int {
                var best = 0
                for (i, value) in row.enumerated() where value > row[best] { best = i }
                return best
            }
            func logProbability(_ row: [Double], _ label: Int) -> Double {
                Foundation.log(Swift.max(label >= 0 && label < row.count ? row[label] : 0, 1e-12))
            }
            self.init(labels: labels, current: currentProbabilities.map(argmax), candidate: candidateProbabilities.map(argmax))
            logLikelihoodGains = zip(labels.indices, labels).map { i, label in
                logProbability(candidateProbabilities[i], label) - logProbability(currentProbabilities[i], label)
            }
        }

        /// `mean(g) − z · sd(g)/√n` over the gains (sd with n − 1); nil with fewer than 2 gains.
        public func likelihoodGainLowerBound(z: Double) -> Double? {
            let n = Double(logLikelihoodGains.count)
            guard logLikelihoodGains.count >= 2 else { return nil }
            let mean = logLikelihoodGains.reduce(0, +) / n
            let variance = logLikelihoodGains.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)
            return mean - z * variance.squareRoot() / n.squareRoot()
        }
    }

    public enum Verdict: Sendable, Equatable {
        /// Right on at least `margin` more validation samples.
        case swap
        /// No validation sample lost, and a confidently higher likelihood of the true labels (the tie-break).
        case swapMoreLikely
        /// The phone has no validation sample to compare on.
        case keepNoEvidence
        /// The candidate was not right on at least `margin` more validation samples.
        case keepNotBetter(wins: Int, losses: Int)

        public var swaps: Bool { self == .swap || self == .swapMoreLikely }
    }

    public func decide(_ evidence: Evidence) -> Verdict {
        guard evidence.samples > 0 else { return .keepNoEvidence }
        if evidence.wins - evidence.losses >= margin { return .swap }
        if let z = tieBreakConfidence, evidence.losses == 0,
            let bound = evidence.likelihoodGainLowerBound(z: z), bound > 0
        {
            return .swapMoreLikely
        }
        return .keepNotBetter(wins: evidence.wins, losses: evidence.losses)
    }

    /// The probability that a candidate is swapped in when, on each of `discordant` samples where the two
    /// heads disagree, it is the right one with probability `winProbability` independently (p = ½: a head
    /// that is in truth no better than the current one). Exact binomial sum.
    public static func falseSwapProbability(discordant: Int, margin: Int, winProbability: Double = 0.5) -> Double {
        precondition(discordant >= 0 && winProbability >= 0 && winProbability <= 1, "invalid arguments")
        var total = 0.0
        for wins in 0...discordant where 2 * wins - discordant >= margin {
            total += binomial(discordant, wins) * pow(winProbability, wins) * pow(1 - winProbability, discordant - wins)
        }
        return total
    }

    private static func binomial(_ n: Int, _ k: Int) -> Double {
        var result = 1.0
        for i in 0..<min(k, n - k) { result = result * Double(n - i) / Double(i + 1) }
        return result
    }

    private static func pow(_ base: Double, _ exponent: Int) -> Double {
        var result = 1.0
        for _ in 0..<exponent { result *= base }
        return result
    }
}
