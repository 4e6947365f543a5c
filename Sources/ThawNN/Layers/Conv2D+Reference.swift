/// The per-sample path Conv2D used before blocking: one im2col and one GEMM per sample, fresh buffers every
/// call. Slow and simple; the oracle the blocked path is tested against (llm.c keeps its naive matmul the
/// same way).
extension Conv2D {
    // x: [batch, inChannels, H, W] → y: [batch, outChannels, OH, OW], one GEMM per sample.
    public func referenceForward(_ x: Tensor) -> Tensor {
        precondition(x.shape.count == 4 && x.shape[1] == inChannels, "Conv2D(\(inChannels)→…) got \(x.shape)")
        let g = Im2Col(
            channels: inChannels, height: x.shape[2], width: x.shape[3], kernel: kernel, stride: stride,
            padding: padding)
        let batch = x.batchSize
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
                            g.referenceExpand(input.baseAddress! + n * inputStride, into: colBuffer.baseAddress!)
                            let target = out.baseAddress! + n * outChannels * columns
                            for oc in 0..<outChannels {
                                (target + oc * columns).update(repeating: b[oc], count: columns)
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
        return y
    }

    // dy: [batch, outChannels, OH, OW] → (dθ for this layer's parameter range, dx or nil), one sample at a time.
    // dW = Σ_n dy_n · col_nᵀ, db = Σ_n Σ_pixels dy_n, dx_n = col2im(Wᵀ · dy_n). The buffer's gradients are untouched.
    public func referenceBackward(_ dy: Tensor, input x: Tensor, needsInputGradient: Bool)
        -> (parameterGradient: [Float], inputGradient: Tensor?)
    {
        let g = Im2Col(
            channels: inChannels, height: x.shape[2], width: x.shape[3], kernel: kernel, stride: stride,
            padding: padding)
        let batch = x.batchSize
        let (rows, columns, outChannels) = (g.rows, g.columns, outChannels)
        precondition(
            dy.shape == [batch, outChannels, g.outputHeight, g.outputWidth], "Conv2D.backward: dy \(dy.shape)")
        var gradient = [Float](repeating: 0, count: parameterRange.count)
        var col = [Float](repeating: 0, count: rows * columns)
        var dx = needsInputGradient ? Tensor.zeros(x.shape) : nil
        let inputStride = x.sampleCount
        parameters.withValues(parameterRange) { p in
            gradient.withUnsafeMutableBufferPointer { grad in
                let dw = grad.baseAddress!
                let db = dw + outChannels * rows
                x.scalars.withUnsafeBufferPointer { input in
                    dy.scalars.withUnsafeBufferPointer { d in
                        col.withUnsafeMutableBufferPointer { colBuffer in
                            for n in 0..<batch {
                                let dyN = d.baseAddress! + n * outChannels * columns
                                g.referenceExpand(input.baseAddress! + n * inputStride, into: colBuffer.baseAddress!)
                                BLAS.gemm(
                                    .none, .transposed, m: outChannels, n: rows, k: columns, alpha: 1,
                                    a: dyN, lda: columns, b: colBuffer.baseAddress!, ldb: columns,
                                    beta: 1, c: dw, ldc: rows)
                                for oc in 0..<outChannels {
                                    for i in 0..<columns { db[oc] += dyN[oc * columns + i] }
                                }
                                guard dx != nil else { continue }
                                // dcol [CKK, OHW] = Wᵀ [CKK, OC] · dy_n [OC, OHW]
                                BLAS.gemm(
                                    .transposed, .none, m: rows, n: columns, k: outChannels, alpha: 1,
                                    a: p.baseAddress!, lda: rows, b: dyN, ldb: columns, beta: 0,
                                    c: colBuffer.baseAddress!, ldc: columns)
                                dx!.scalars.withUnsafeMutableBufferPointer { out in
                                    g.referenceAccumulate(colBuffer.baseAddress!, into: out.baseAddress! + n * inputStride)
                                }
                            }
                        }
                    }
                }
            }
        }
        return (gradient, dx)
    }
}

extension Im2Col {
    /// im2col one value at a time, with the bounds test inside the loop: the oracle for ``expand(_:into:rowStride:)``.
    func referenceExpand(_ image: UnsafePointer<Float>, into columnsOut: UnsafeMutablePointer<Float>) {
        let (oh, ow, k, s, p, h, w) = (outputHeight, outputWidth, kernel, stride, padding, height, width)
        for c in 0..<channels {
            for ki in 0..<k {
                for kj in 0..<k {
                    let row = (c * k + ki) * k + kj
                    for y in 0..<oh {
                        for x in 0..<ow {
                            let (iy, ix) = (y * s - p + ki, x * s - p + kj)
                            let inside = iy >= 0 && iy < h && ix >= 0 && ix < w
                            columnsOut[row * oh * ow + y * ow + x] = inside ? image[(c * h + iy) * w + ix] : 0
                        }
                    }
                }
            }
        }
    }

    /// col2im one value at a time: the oracle for ``accumulate(_:rowStride:into:)``.
    func referenceAccumulate(_ columnsIn: UnsafePointer<Float>, into image: UnsafeMutablePointer<Float>) {
        let (oh, ow, k, s, p, h, w) = (outputHeight, outputWidth, kernel, stride, padding, height, width)
        for c in 0..<channels {
            for ki in 0..<k {
                for kj in 0..<k {
                    let row = (c * k + ki) * k + kj
                    for y in 0..<oh {
                        for x in 0..<ow {
                            let (iy, ix) = (y * s - p + ki, x * s - p + kj)
                            guard iy >= 0 && iy < h && ix >= 0 && ix < w else { continue }
                            image[(c * h + iy) * w + ix] += columnsIn[row * oh * ow + y * ow + x]
                        }
                    }
                }
            }
        }
    }
}
