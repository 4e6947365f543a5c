/// Inverted dropout: in training each value is zeroed with probability `rate` and the survivors are scaled by
/// 1/(1 − rate); at inference it is the identity.
///
/// The mask comes from a ``SeededGenerator``, so a run is reproducible. With ``freezesMask`` set, the mask of
/// the previous training forward is reused while the shape stays the same, which makes the layer a fixed linear
/// map for gradient checking.
public final class Dropout: Layer {
    public let rate: Float
    /// Reuse the last mask instead of sampling a new one (for gradient checks).
    public var freezesMask = false
    private var generator: SeededGenerator
    private var mask: [Float] = []
    private var maskShape: [Int] = []
    private var output = Tensor.unsized
    private var inputGradient = Tensor.unsized

    public init(rate: Float, generator: SeededGenerator) {
        precondition(rate >= 0 && rate < 1, "dropout rate must be in [0, 1), got \(rate)")
        self.rate = rate
        self.generator = generator
    }

    public var parameterRange: Range<Int> { 0..<0 }

    // x: [batch, ...] → y: [batch, ...]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        guard training, rate > 0 else {
            mask = []
            maskShape = training ? x.shape : []
            return x
        }
        if !(freezesMask && maskShape == x.shape && mask.count == x.count) {
            let scale = 1 / (1 - rate)
            if mask.count != x.count { mask = [Float](repeating: 0, count: x.count) }
            for i in 0..<mask.count { mask[i] = generator.nextUnitFloat() < rate ? 0 : scale }
            if maskShape != x.shape { maskShape = x.shape }
        }
        output.prepare(x.shape)
        x.scalars.withUnsafeBufferPointer { input in
            output.scalars.withUnsafeMutableBufferPointer { out in
                mask.withUnsafeBufferPointer { m in
                    for i in 0..<out.count { out[i] = input[i] * m[i] }
                }
            }
        }
        return output
    }

    // dy: [batch, ...] → dx: [batch, ...], the same mask applied to the gradient.
    public func backward(_ dy: Tensor, needsInputGradient: Bool) -> Tensor? {
        precondition(dy.shape == maskShape, "Dropout.backward: dy \(dy.shape) vs forward \(maskShape)")
        guard needsInputGradient else { return nil }
        if mask.isEmpty { return dy }
        inputGradient.prepare(dy.shape)
        dy.scalars.withUnsafeBufferPointer { d in
            inputGradient.scalars.withUnsafeMutableBufferPointer { out in
                mask.withUnsafeBufferPointer { m in
                    for i in 0..<out.count { out[i] = d[i] * m[i] }
                }
            }
        }
        return inputGradient
    }
}
