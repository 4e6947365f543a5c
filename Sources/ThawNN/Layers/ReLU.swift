/// max(0, x) elementwise; any shape. Output and input-gradient buffers are the layer's and reused.
public final class ReLU: Layer {
    /// The last output; after a training forward it is also the mask backward needs.
    private var output = Tensor.unsized
    private var inputGradient = Tensor.unsized
    private var hasTrainingForward = false

    public init() {}

    public var parameterRange: Range<Int> { 0..<0 }

    // x: [batch, ...] → y: [batch, ...]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        output.prepare(x.shape)
        x.scalars.withUnsafeBufferPointer { input in
            output.scalars.withUnsafeMutableBufferPointer { out in
                guard let source = input.baseAddress, let target = out.baseAddress else { return }
                VectorKernels.relu(source, into: target, count: input.count)
            }
        }
        hasTrainingForward = training
        return output
    }

    // dy: [batch, ...] → dx: [batch, ...]; the gradient passes where the output was positive.
    public func backward(_ dy: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard hasTrainingForward else { preconditionFailure("ReLU.backward without a training forward") }
        hasTrainingForward = false
        precondition(dy.shape == output.shape, "ReLU.backward: dy \(dy.shape) vs y \(output.shape)")
        guard needsInputGradient else { return nil }
        inputGradient.prepare(dy.shape)
        dy.scalars.withUnsafeBufferPointer { d in
            output.scalars.withUnsafeBufferPointer { y in
                inputGradient.scalars.withUnsafeMutableBufferPointer { dx in
                    guard let gradient = d.baseAddress, let mask = y.baseAddress, let target = dx.baseAddress else { return }
                    VectorKernels.reluGradient(gradient, mask: mask, into: target, count: d.count)
                }
            }
        }
        return inputGradient
    }
}
