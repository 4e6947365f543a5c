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

    public mutating func step(parameters: inout [Float], gradients: [Float], range: Range<Int>) {
        precondition(gradients.count == range.count && range.upperBound <= parameters.count, "SGD range mismatch")
        let (lr, mu, decay) = (learningRate, momentum, weightDecay)
        let base = range.lowerBound
        if mu == 0 {
            parameters.withUnsafeMutableBufferPointer { p in
                gradients.withUnsafeBufferPointer { g in
                    for i in 0..<g.count {
                        let j = base &+ i
                        p[j] -= lr * (g[i] + decay * p[j])
                    }
                }
            }
            return
        }
        if stateRange != range || velocity.count != range.count {
            velocity = [Float](repeating: 0, count: range.count)
            stateRange = range
        }
        parameters.withUnsafeMutableBufferPointer { p in
            gradients.withUnsafeBufferPointer { g in
                velocity.withUnsafeMutableBufferPointer { v in
                    for i in 0..<g.count {
                        let j = base &+ i
                        v[i] = mu * v[i] + g[i] + decay * p[j]
                        p[j] -= lr * v[i]
                    }
                }
            }
        }
    }
}
