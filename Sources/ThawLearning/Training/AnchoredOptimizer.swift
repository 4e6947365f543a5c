import ThawNN

/// L2-SP: an optimiser that pulls the trained parameters toward a starting point (normally the general
/// model's head) by adding `strength · (p − anchor)` to every gradient before the wrapped rule steps.
///
/// The loss it minimises is the data loss plus `strength/2 · ‖p − anchor‖²` (Li et al., "Explicit
/// inductive bias for transfer learning with convolutional networks", ICML 2018). With few samples per
/// user, this keeps a personal head close to the general one instead of fitting a handful of samples.
public struct AnchoredOptimizer: Optimizer {
    public var base: any Optimizer
    /// The parameters of the trained range to pull toward, `anchor[i]` for `parameters[range.lowerBound + i]`.
    public let anchor: [Float]
    public var strength: Float

    public init(base: any Optimizer, anchor: [Float], strength: Float) {
        precondition(strength >= 0, "the L2-SP strength must be >= 0")
        self.base = base
        self.anchor = anchor
        self.strength = strength
    }

    public mutating func step(parameters: inout [Float], gradients: [Float], range: Range<Int>) {
        guard strength > 0 else {
            base.step(parameters: &parameters, gradients: gradients, range: range)
            return
        }
        precondition(anchor.count == range.count, "anchor of \(anchor.count) for a range of \(range.count)")
        var pulled = gradients
        let lower = range.lowerBound
        let lambda = strength
        parameters.withUnsafeBufferPointer { p in
            anchor.withUnsafeBufferPointer { a in
                pulled.withUnsafeMutableBufferPointer { g in
                    for i in 0..<g.count { g[i] += lambda * (p[lower + i] - a[i]) }
                }
            }
        }
        base.step(parameters: &parameters, gradients: pulled, range: range)
    }

    /// The wrapped rule's configuration (the anchor is not part of it).
    public var config: OptimizerConfig { base.config }
}
