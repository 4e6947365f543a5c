/// A fully connected layer: y = x·Wᵀ + b, W stored `[outputs, inputs]` then b `[outputs]` in the buffer.
///
/// The output and input-gradient buffers are the layer's and reused from step to step.
public final class Dense: Layer {
    public let inputs: Int
    public let outputs: Int
    public let parameterRange: Range<Int>
    private let parameters: ParameterBuffer
    private var cachedInput: Tensor?
    private var outputShape: [Int] = []
    private var output = Tensor.unsized
    private var inputGradient = Tensor.unsized

    /// A dense layer whose weights live at `offset` in `parameters`.
    public init(inputs: Int, outputs: Int, parameters: ParameterBuffer, offset: Int) {
        precondition(inputs > 0 && outputs > 0, "Dense needs positive sizes")
        self.inputs = inputs
        self.outputs = outputs
        self.parameters = parameters
        self.parameterRange = offset..<(offset + inputs * outputs + outputs)
        precondition(parameterRange.upperBound <= parameters.count, "Dense slice beyond the buffer")
    }

    private var weightRange: Range<Int> { parameterRange.lowerBound..<(parameterRange.lowerBound + inputs * outputs) }
    private var biasRange: Range<Int> { weightRange.upperBound..<parameterRange.upperBound }

    // x: [batch, inputs] → y: [batch, outputs]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.shape.count == 2 && x.shape[1] == inputs, "Dense(\(inputs)→\(outputs)) got \(x.shape)")
        let batch = x.batchSize
        precondition(batch > 0, "Dense.forward on an empty batch")
        if outputShape.count != 2 || outputShape[0] != batch { outputShape = [batch, outputs] }
        output.prepare(outputShape)
        let (inputs, outputs) = (inputs, outputs)
        parameters.withValues(parameterRange) { p in
            let w = p.baseAddress!
            let b = w + inputs * outputs
            output.scalars.withUnsafeMutableBufferPointer { out in
                // Start from the bias in every row, then let GEMM add x·Wᵀ (beta = 1).
                for row in 0..<batch {
                    (out.baseAddress! + row &* outputs).update(from: b, count: outputs)
                }
                x.scalars.withUnsafeBufferPointer { input in
                    BLAS.gemm(
                        .none, .transposed, m: batch, n: outputs, k: inputs, alpha: 1,
                        a: input.baseAddress!, lda: inputs, b: w, ldb: inputs,
                        beta: 1, c: out.baseAddress!, ldc: outputs)
                }
            }
        }
        cachedInput = training ? x : nil
        return output
    }

    // dy: [batch, outputs] → dx: [batch, inputs]; dW += dyᵀ·x, db += Σ_rows dy, dx = dy·W.
    public func backward(_ dy: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let x = cachedInput else { preconditionFailure("Dense.backward without a training forward") }
        cachedInput = nil
        let batch = x.batchSize
        precondition(dy.shape.count == 2 && dy.shape[0] == batch && dy.shape[1] == outputs, "Dense.backward: dy \(dy.shape), expected [\(batch), \(outputs)]")
        let (inputs, outputs) = (inputs, outputs)
        parameters.withGradients(parameterRange) { g in
            let dw = g.baseAddress!
            let db = dw + inputs * outputs
            dy.scalars.withUnsafeBufferPointer { d in
                x.scalars.withUnsafeBufferPointer { input in
                    BLAS.gemm(
                        .transposed, .none, m: outputs, n: inputs, k: batch, alpha: 1,
                        a: d.baseAddress!, lda: outputs, b: input.baseAddress!, ldb: inputs,
                        beta: 1, c: dw, ldc: inputs)
                }
                for row in 0..<batch {
                    let base = row &* outputs
                    for j in 0..<outputs { db[j] += d[base &+ j] }
                }
            }
        }
        guard needsInputGradient else { return nil }
        inputGradient.prepare(x.shape)
        parameters.withValues(weightRange) { w in
            dy.scalars.withUnsafeBufferPointer { d in
                inputGradient.scalars.withUnsafeMutableBufferPointer { out in
                    BLAS.gemm(
                        .none, .none, m: batch, n: inputs, k: outputs, alpha: 1,
                        a: d.baseAddress!, lda: outputs, b: w.baseAddress!, ldb: inputs,
                        beta: 0, c: out.baseAddress!, ldc: inputs)
                }
            }
        }
        return inputGradient
    }
}
