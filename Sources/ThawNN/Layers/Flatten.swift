/// `[batch, d1, d2, ...] → [batch, d1·d2·...]`; the values do not move (row-major).
public final class Flatten: Layer {
    private var cachedInputShape: [Int]?

    public init() {}

    public var parameterRange: Range<Int> { 0..<0 }

    // x: [batch, ...] → y: [batch, product]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        cachedInputShape = training ? x.shape : nil
        return x.reshaped([x.batchSize, x.sampleCount])
    }

    // dy: [batch, product] → dx: [batch, ...] (the cached input shape)
    public func backward(_ dy: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let shape = cachedInputShape else { preconditionFailure("Flatten.backward without a training forward") }
        guard needsInputGradient else { return nil }
        return dy.reshaped(shape)
    }
}
