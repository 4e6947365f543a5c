/// An update rule over a run of parameters and their gradients; it knows nothing of layers.
///
/// State such as momentum is kept per position in the trained range and reset when the range changes
/// (a new freeze point means a new set of trainable parameters).
public protocol Optimizer {
    /// Updates `parameters[range]` from `gradients`, where `gradients[i]` belongs to
    /// `parameters[range.lowerBound + i]` (so `gradients.count == range.count`).
    mutating func step(parameters: inout [Float], gradients: [Float], range: Range<Int>)

    /// The value that rebuilds this optimiser with fresh state.
    var config: OptimizerConfig { get }
}

/// A serialisable description of an optimiser and its hyper-parameters.
public enum OptimizerConfig: Hashable, Sendable {
    case sgd(learningRate: Float, momentum: Float, weightDecay: Float)
    case adam(learningRate: Float, beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float)

    /// A fresh optimiser (no momentum or moment state yet).
    public func makeOptimizer() -> any Optimizer {
        switch self {
        case .sgd(let learningRate, let momentum, let weightDecay):
            return SGD(learningRate: learningRate, momentum: momentum, weightDecay: weightDecay)
        case .adam(let learningRate, let beta1, let beta2, let epsilon, let weightDecay):
            return Adam(
                learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon, weightDecay: weightDecay)
        }
    }

    /// The learning rate, whichever rule.
    public var learningRate: Float {
        switch self {
        case .sgd(let learningRate, _, _), .adam(let learningRate, _, _, _, _): return learningRate
        }
    }
}
