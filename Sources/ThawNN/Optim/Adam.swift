/// Adam with bias correction and *decoupled* weight decay (AdamW, Loshchilov & Hutter 2019).
///
/// m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; m̂ = m/(1−β1ᵗ); v̂ = v/(1−β2ᵗ);
/// p ← p − lr·(m̂/(√v̂ + ε) + weightDecay·p). The decay is not part of g, so it is not rescaled by v̂.
public struct Adam: Optimizer, Sendable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    public var weightDecay: Float
    private var firstMoment: [Float] = []
    private var secondMoment: [Float] = []
    private var stepCount = 0
    /// β1ᵗ and β2ᵗ, carried forward in Double for the bias corrections.
    private var beta1Power = 1.0
    private var beta2Power = 1.0
    private var stateRange: Range<Int> = 0..<0

    public init(
        learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
        weightDecay: Float = 0
    ) {
        precondition(learningRate > 0 && beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, "invalid Adam betas")
        precondition(epsilon > 0 && weightDecay >= 0, "invalid Adam epsilon or weight decay")
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    public var config: OptimizerConfig {
        .adam(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
    }

    public mutating func step(parameters: inout [Float], gradients: [Float], range: Range<Int>) {
        precondition(gradients.count == range.count && range.upperBound <= parameters.count, "Adam range mismatch")
        if range.isEmpty { return }
        if stateRange != range || firstMoment.count != range.count {
            firstMoment = [Float](repeating: 0, count: range.count)
            secondMoment = [Float](repeating: 0, count: range.count)
            stepCount = 0
            beta1Power = 1
            beta2Power = 1
            stateRange = range
        }
        stepCount += 1
        let (lr, b1, b2, eps, decay) = (learningRate, beta1, beta2, epsilon, weightDecay)
        beta1Power *= Double(b1)
        beta2Power *= Double(b2)
        let correction1 = Float(1 - beta1Power)
        let correction2 = Float(1 - beta2Power)
        let base = range.lowerBound
        parameters.withUnsafeMutableBufferPointer { all in
            // Raw pointers: no bounds checks in the per-element loop (the ranges were checked above).
            let p = all.baseAddress! + base
            gradients.withUnsafeBufferPointer { gBuffer in
                firstMoment.withUnsafeMutableBufferPointer { mBuffer in
                    secondMoment.withUnsafeMutableBufferPointer { vBuffer in
                        let (g, m, v) = (gBuffer.baseAddress!, mBuffer.baseAddress!, vBuffer.baseAddress!)
                        for i in 0..<gBuffer.count {
                            let gi = g[i]
                            let mi = b1 * m[i] + (1 - b1) * gi
                            let vi = b2 * v[i] + (1 - b2) * gi * gi
                            m[i] = mi
                            v[i] = vi
                            let vHat = vi / correction2
                            p[i] -= lr * ((mi / correction1) / (vHat.squareRoot() + eps) + decay * p[i])
                        }
                    }
                }
            }
        }
    }
}
