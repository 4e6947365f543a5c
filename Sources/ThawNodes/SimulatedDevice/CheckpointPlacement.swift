import ThawNN

/// Which backbone layers a phone keeps activation checkpoints at, under a storage budget, so that a
/// future shallower freeze move costs the fewest joules (docs/FREEZE-MOVES.md, "Checkpoint placement").
///
/// The trade: a checkpoint at activation index `c` (the output of layers `[0, c)`) costs
/// `4 × |activation(c)|` bytes per cached sample, and saves, when the freeze point moves from `k` to a
/// shallower `t ≥ c`, the forward FLOPs of layers `[0, c)` (only `[c, t)` must run). A move deeper than
/// `k` needs no checkpoint: each entry advances from its own activation at `k`.
///
/// The policy minimises the expected joules per cached sample,
///
///     Σ_t p(t) · FLOPs(nearest(S, t) → t) · joulesPerFLOP  +  bytes(S) · joulesPerStoredByte
///
/// over checkpoint sets `S ⊆ {1, …, k−1}` with `bytes(S) ≤ budgetBytesPerSample`, where `nearest(S, t)`
/// is the largest index in `S ∪ {0}` not above `t` and `p` is the distribution of the next target. Ties
/// go to fewer bytes, then to shallower layers. The search is exhaustive (a backbone has at most a few
/// dozen layers; candidates beyond ``maximumCandidates`` are pre-filtered by FLOPs saved per byte), so
/// the answer is the optimum, not a heuristic, for every backbone Thaw ships.
///
/// Costs per layer come from ``ModelArchitecture/cost(ofLayer:)``: a multiply-add is 2 FLOPs, an
/// elementwise operation 1. Joules per FLOP is a parameter: a device energy profile with a cited value
/// replaces the placeholder when one exists.
public struct CheckpointPlacement: Sendable {
    public struct Plan: Equatable, Sendable {
        /// Activation indices to checkpoint, ascending.
        public var layers: [Int]
        /// Checkpoint bytes per cached sample.
        public var bytesPerSample: Int
        /// Expected recomputation FLOPs per sample for the next move.
        public var expectedFLOPs: Double
        /// Expected joules per sample: recomputation plus storage.
        public var expectedJoules: Double
    }

    public static let maximumCandidates = 16

    public let architecture: ModelArchitecture
    public let freezePoint: FreezePoint
    public var joulesPerFLOP: Double
    public var joulesPerStoredByte: Double

    public init(
        architecture: ModelArchitecture, freezePoint: FreezePoint, joulesPerFLOP: Double,
        joulesPerStoredByte: Double = 0
    ) {
        precondition(
            freezePoint.index >= 1 && freezePoint.index < architecture.layerCount, "freeze point outside model")
        precondition(joulesPerFLOP >= 0 && joulesPerStoredByte >= 0, "energy prices cannot be negative")
        self.architecture = architecture
        self.freezePoint = freezePoint
        self.joulesPerFLOP = joulesPerFLOP
        self.joulesPerStoredByte = joulesPerStoredByte
    }

    /// Every shallower point `1..<k` equally likely: the policy when nothing is known about the next move.
    public var uniformTargets: [Int: Double] {
        let count = freezePoint.index - 1
        guard count > 0 else { return [:] }
        return Dictionary(uniqueKeysWithValues: (1..<freezePoint.index).map { ($0, 1 / Double(count)) })
    }

    /// Forward FLOPs of layers `[from, to)` for one sample.
    public func flops(from: Int, to: Int) -> Double {
        guard from < to else { return 0 }
        return (from..<to).reduce(0) { total, layer in
            let cost = architecture.cost(ofLayer: layer)
            return total + 2 * Double(cost.forwardMACs) + Double(cost.elementwiseOps)
        }
    }

    /// Bytes of the activation at index `layer` for one sample.
    public func bytes(at layer: Int) -> Int { 4 * Tensor.elementCount(architecture.activationShape(at: layer)) }

    /// The expected cost of keeping checkpoints at `layers` (any set, for comparing plans).
    public func evaluate(_ layers: [Int], targets: [Int: Double]) -> Plan {
        let sorted = Array(Set(layers)).sorted()
        var expected = 0.0
        for (target, probability) in targets {
            let start = sorted.last { $0 <= target } ?? 0
            expected += probability * flops(from: start, to: target)
        }
        let total = sorted.reduce(0) { $0 + self.bytes(at: $1) }
        return Plan(
            layers: sorted, bytesPerSample: total, expectedFLOPs: expected,
            expectedJoules: expected * joulesPerFLOP + Double(total) * joulesPerStoredByte)
    }

    /// The cheapest plan within `budgetBytesPerSample` for the next move's `targets` (point → probability;
    /// only points below the freeze point matter).
    public func plan(budgetBytesPerSample: Int, targets: [Int: Double]? = nil) -> Plan {
        let targets = (targets ?? uniformTargets).filter { $0.key >= 1 && $0.key < freezePoint.index }
        var candidates = (1..<freezePoint.index).filter { layer in
            bytes(at: layer) <= budgetBytesPerSample && targets.keys.contains { $0 >= layer }
        }
        if candidates.count > Self.maximumCandidates {
            // Keep the candidates that save the most FLOPs per byte on their own.
            candidates = Array(
                candidates.sorted {
                    flops(from: 0, to: $0) / Double(bytes(at: $0)) > flops(from: 0, to: $1) / Double(bytes(at: $1))
                }
                .prefix(Self.maximumCandidates)
            ).sorted()
        }
        var best = evaluate([], targets: targets)
        for mask in 1..<(1 << candidates.count) {
            let chosen = candidates.indices.filter { mask & (1 << $0) != 0 }.map { candidates[$0] }
            let total = chosen.reduce(0) { $0 + self.bytes(at: $1) }
            guard total <= budgetBytesPerSample else { continue }
            let plan = evaluate(chosen, targets: targets)
            if (plan.expectedJoules, plan.bytesPerSample) < (best.expectedJoules, best.bytesPerSample)
                || (plan.expectedJoules == best.expectedJoules && plan.bytesPerSample == best.bytesPerSample
                    && plan.layers.lexicographicallyPrecedes(best.layers))
            {
                best = plan
            }
        }
        return best
    }
}
