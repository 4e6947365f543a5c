/// `[batch, d1, d2, ...] → [batch, d1·d2·...]`; the values do not move (row-major), so nothing is copied.
public final class Flatten: Layer {
    private var cachedInputShape: [Int]?
    /// The last input shape and its flattened shape, kept so that a step allocates no shape arrays.
    private var lastInputShape: [Int] = []
    private var outputShape: [Int] = []

    public init() {}

    public var parameterRange: Range<Int> { 0..<0 }

    // x: [batch, ...] → y: [batch, product]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        if x.shape != lastInputShape {
            lastInputShape = x.shape
            outputShape = [x.batchSize, x.sampleCount]
        }
        cachedInputShape = training ? lastInputShape : nil
        return Tensor(shape: outputShape, scalars: x.scalars)
    }

    // dy: [batch, product] → dx: [batch, ...] (the cached input shape)
    public func backward(_ dy: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let shape = cachedInputShape else { preconditionFailure("Flatten.backward without a training forward") }
        cachedInputShape = nil
        guard needsInputGradient else { return nil }
        return Tensor(shape: shape, scalars: dy.scalars)
    }
}
