/// A 2-D convolution over NCHW batches via im2col and one GEMM per sample.
///
/// Parameters in the buffer: W `[outChannels, inChannels, kernel, kernel]` then b `[outChannels]`. The column
/// matrix is recomputed in backward rather than cached, trading a cheap rearrangement for batch × C·K·K × OH·OW
/// floats of memory.
public final class Conv2D: Layer {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let parameterRange: Range<Int>
    private let parameters: ParameterBuffer
    private var cachedInput: Tensor?

    public init(
        inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int,
        parameters: ParameterBuffer, offset: Int
    ) {
        precondition(inChannels > 0 && outChannels > 0 && kernel > 0 && stride > 0 && padding >= 0)
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.parameters = parameters
        self.parameterRange = offset..<(offset + outChannels * inChannels * kernel * kernel + outChannels)
        precondition(parameterRange.upperBound <= parameters.count, "Conv2D slice beyond the buffer")
    }

    private func geometry(for x: Tensor) -> Im2Col {
        precondition(x.shape.count == 4 && x.shape[1] == inChannels, "Conv2D(\(inChannels)→…) got \(x.shape)")
        return Im2Col(
            channels: inChannels, height: x.shape[2], width: x.shape[3], kernel: kernel, stride: stride,
            padding: padding)
    }

    // x: [batch, inChannels, H, W] → y: [batch, outChannels, OH, OW]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let g = geometry(for: x)
        let batch = x.batchSize
        precondition(batch > 0, "Conv2D.forward on an empty batch")
        let (rows, columns, outChannels) = (g.rows, g.columns, outChannels)
        var y = Tensor.zeros([batch, outChannels, g.outputHeight, g.outputWidth])
        var col = [Float](repeating: 0, count: rows * columns)
        let inputStride = x.sampleCount
        parameters.withValues(parameterRange) { p in
            let w = p.baseAddress!
            let b = w + outChannels * rows
            x.scalars.withUnsafeBufferPointer { input in
                y.scalars.withUnsafeMutableBufferPointer { out in
                    col.withUnsafeMutableBufferPointer { colBuffer in
                        for n in 0..<batch {
                            g.expand(input.baseAddress! + n &* inputStride, into: colBuffer.baseAddress!)
                            let target = out.baseAddress! + n &* outChannels &* columns
                            for oc in 0..<outChannels {
                                (target + oc &* columns).update(repeating: b[oc], count: columns)
                            }
                            // y_n [OC, OHW] += W [OC, CKK] · col [CKK, OHW]
                            BLAS.gemm(
                                .none, .none, m: outChannels, n: columns, k: rows, alpha: 1,
                                a: w, lda: rows, b: colBuffer.baseAddress!, ldb: columns,
                                beta: 1, c: target, ldc: columns)
                        }
                    }
                }
            }
        }
        cachedInput = training ? x : nil
        return y
    }

    // dy: [batch, outChannels, OH, OW] → dx: [batch, inChannels, H, W]
    // dW += dy_n · col_nᵀ, db += Σ_pixels dy_n, dcol = Wᵀ · dy_n then col2im into dx_n.
    public func backward(_ dy: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let x = cachedInput else { preconditionFailure("Conv2D.backward without a training forward") }
        let g = geometry(for: x)
        let batch = x.batchSize
        let (rows, columns, outChannels) = (g.rows, g.columns, outChannels)
        precondition(
            dy.shape == [batch, outChannels, g.outputHeight, g.outputWidth], "Conv2D.backward: dy \(dy.shape)")
        var col = [Float](repeating: 0, count: rows * columns)
        let inputStride = x.sampleCount
        parameters.withGradients(parameterRange) { grad in
            let dw = grad.baseAddress!
            let db = dw + outChannels * rows
            x.scalars.withUnsafeBufferPointer { input in
                dy.scalars.withUnsafeBufferPointer { d in
                    col.withUnsafeMutableBufferPointer { colBuffer in
                        for n in 0..<batch {
                            let dyN = d.baseAddress! + n &* outChannels &* columns
                            g.expand(input.baseAddress! + n &* inputStride, into: colBuffer.baseAddress!)
                            BLAS.gemm(
                                .none, .transposed, m: outChannels, n: rows, k: columns, alpha: 1,
                                a: dyN, lda: columns, b: colBuffer.baseAddress!, ldb: columns,
                                beta: 1, c: dw, ldc: rows)
                            for oc in 0..<outChannels {
                                var sum: Float = 0
                                let line = dyN + oc &* columns
                                for i in 0..<columns { sum += line[i] }
                                db[oc] += sum
                            }
                        }
                    }
                }
            }
        }
        guard needsInputGradient else { return nil }
        var dx = Tensor.zeros(x.shape)
        var dcol = [Float](repeating: 0, count: rows * columns)
        parameters.withValues(parameterRange) { p in
            dy.scalars.withUnsafeBufferPointer { d in
                dcol.withUnsafeMutableBufferPointer { dcolBuffer in
                    dx.scalars.withUnsafeMutableBufferPointer { out in
                        for n in 0..<batch {
                            // dcol [CKK, OHW] = Wᵀ [CKK, OC] · dy_n [OC, OHW]
                            BLAS.gemm(
                                .transposed, .none, m: rows, n: columns, k: outChannels, alpha: 1,
                                a: p.baseAddress!, lda: rows, b: d.baseAddress! + n &* outChannels &* columns,
                                ldb: columns, beta: 0, c: dcolBuffer.baseAddress!, ldc: columns)
                            g.accumulate(dcolBuffer.baseAddress!, into: out.baseAddress! + n &* inputStride)
                        }
                    }
                }
            }
        }
        return dx
    }
}
