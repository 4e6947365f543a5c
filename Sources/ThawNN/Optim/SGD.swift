/// Stochastic gradient descent with optional momentum and L2 weight decay (PyTorch's `SGD` rule).
///
/// g ← g + weightDecay·p (coupled L2); v ← momentum·v + g; p ← p − learningRate·v. With momentum 0 no velocity is
/// kept and the step is p ← p − learningRate·g.
public struct SGD: Optimizer, Sendable {
    public var learningRate: Float
    public var momentum: Float
    public var weightDecay: Float
    private var velocity: [Float] = []
    private var stateRange: Range<Int> = 0..<0

    public init(learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
        precondition(learningRate > 0 && momentum >= 0 && momentum < 1 && weightDecay >= 0, "invalid SGD settings")
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    public var config: OptimizerConfig {
        .sgd(learningRate: learningRate, momentum: momentum, weightDecay: weightDecay)
    }

    /// The update is four level-1 BLAS calls over the range, so its cost is memory bandwidth, not Swift loops.
    public mutating func step(parameters: inout [Float], gradients: [Float], range: Range<Int>) {
        precondition(gradients.count == range.count && range.upperBound <= parameters.count, "SGD range mismatch")
        let count = range.count
        if count == 0 { return }
        let (lr, mu, decay) = (learningRate, momentum, weightDecay)
        if mu > 0 && (stateRange != range || velocity.count != count) {
            velocity = [Float](repeating: 0, count: count)
            stateRange = range
        }
        parameters.withUnsafeMutableBufferPointer { all in
            let p = all.baseAddress! + range.lowerBound
            gradients.withUnsafeBufferPointer { g in
                if mu == 0 {
                    // p ← p − lr·(g + decay·p) = (1 − lr·decay)·p − lr·g
                    if decay > 0 { BLAS.scale(count: count, alpha: 1 - lr * decay, x: p) }
                    BLAS.axpy(count: count, alpha: -lr, x: g.baseAddress!, y: p)
                    return
                }
                velocity.withUnsafeMutableBufferPointer { v in
                    // v ← mu·v + g + decay·p; p ← p − lr·v
                    BLAS.scale(count: count, alpha: mu, x: v.baseAddress!)
                    BLAS.axpy(count: count, alpha: 1, x: g.baseAddress!, y: v.baseAddress!)
                    if decay > 0 { BLAS.axpy(count: count, alpha: decay, x: p, y: v.baseAddress!) }
                    BLAS.axpy(count: count, alpha: -lr, x: v.baseAddress!, y: p)
                }
            }
        }
    }
}
