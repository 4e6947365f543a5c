/// max(0, x) elementwise; any shape.
public final class ReLU: Layer {
    private var cachedOutput: Tensor?

    public init() {}

    public var parameterRange: Range<Int> { 0..<0 }

    // x: [batch, ...] → y: [batch, ...]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        var y = x
        y.scalars.withUnsafeMutableBufferPointer { buffer in
            for i in 0..<buffer.count where !(buffer[i] > 0) { buffer[i] = 0 }
        }
        cachedOutput = training ? y : nil
        return y
    }

    // dy: [batch, ...] → dx: [batch, ...]; the gradient passes where the output was positive.
    public func backward(_ dy: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let y = cachedOutput else { preconditionFailure("ReLU.backward without a training forward") }
        precondition(dy.shape == y.shape, "ReLU.backward: dy \(dy.shape) vs y \(y.shape)")
        guard needsInputGradient else { return nil }
        var dx = dy
        dx.scalars.withUnsafeMutableBufferPointer { d in
            y.scalars.withUnsafeBufferPointer { out in
                for i in 0..<d.count where !(out[i] > 0) { d[i] = 0 }
            }
        }
        return dx
    }
}
