/// A 2-D convolution over NCHW batches via im2col and one GEMM per block of samples.
///
/// Parameters in the buffer: W `[outChannels, inChannels, kernel, kernel]` then b `[outChannels]`.
///
/// The batch is cut into blocks of nb samples whose column matrices, side by side, fill at most
/// ``columnBudget`` floats; each block is one im2col pass and one GEMM `[OC, CKK] · [CKK, nb·OH·OW]`, large
/// enough for OpenBLAS to use every thread. The column matrix is recomputed in backward rather than cached,
/// trading a cheap rearrangement for batch × C·K·K × OH·OW floats of memory. All scratch and output buffers
/// belong to the layer and are reused from step to step. ``referenceForward(_:)`` and
/// ``referenceBackward(_:input:needsInputGradient:)`` keep the one-GEMM-per-sample path as the oracle.
public final class Conv2D: Layer {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let parameterRange: Range<Int>
    let parameters: ParameterBuffer
    private var cachedInput: Tensor?
    /// Geometry of the last input shape, and the output shape it gives.
    private var lastInputShape: [Int] = []
    private var lastGeometry: Im2Col?
    private var outputShape: [Int] = []
    private var output = Tensor.unsized
    private var inputGradient = Tensor.unsized
    /// The block's column matrix `[CKK, nb·OHW]`; in backward it then holds dcol.
    private var columnBlock: [Float] = []
    /// The block's GEMM result `[OC, nb·OHW]` in forward, the gathered dy in backward.
    private var channelBlock: [Float] = []

    /// Floats of column matrix per block (8 MiB): big enough for a wide GEMM, small enough to stay in L3.
    public static let columnBudget = 1 << 21

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

    func geometry(for x: Tensor) -> Im2Col {
        if x.shape == lastInputShape, let g = lastGeometry { return g }
        precondition(x.shape.count == 4 && x.shape[1] == inChannels, "Conv2D(\(inChannels)→…) got \(x.shape)")
        let g = Im2Col(
            channels: inChannels, height: x.shape[2], width: x.shape[3], kernel: kernel, stride: stride,
            padding: padding)
        lastInputShape = x.shape
        lastGeometry = g
        outputShape = [x.shape[0], outChannels, g.outputHeight, g.outputWidth]
        return g
    }

    /// Samples per block for this geometry and batch.
    func blockSize(_ g: Im2Col, batch: Int) -> Int {
        max(1, min(batch, Conv2D.columnBudget / max(1, g.rows &* g.columns)))
    }

    private func reserveBlocks(_ g: Im2Col, samples nb: Int) {
        let columnCount = g.rows &* g.columns &* nb
        if columnBlock.count < columnCount { columnBlock = [Float](repeating: 0, count: columnCount) }
        let channelCount = outChannels &* g.columns &* nb
        if channelBlock.count < channelCount { channelBlock = [Float](repeating: 0, count: channelCount) }
    }

    // x: [batch, inChannels, H, W] → y: [batch, outChannels, OH, OW]
    // Per block of nb samples: col [CKK, nb·OHW] = im2col(x_block); Y [OC, nb·OHW] = W · col;
    // y[n, oc, :] = Y[oc, n·OHW ..< (n+1)·OHW] + b[oc].
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let g = geometry(for: x)
        let batch = x.batchSize
        precondition(batch > 0, "Conv2D.forward on an empty batch")
        let (rows, columns, outChannels) = (g.rows, g.columns, outChannels)
        let nbMax = blockSize(g, batch: batch)
        reserveBlocks(g, samples: nbMax)
        output.prepare(outputShape)
        let inputStride = x.sampleCount
        let outputStride = outChannels &* columns
        parameters.withValues(parameterRange) { p in
            let w = p.baseAddress!
            let b = w + outChannels &* rows
            x.scalars.withUnsafeBufferPointer { input in
                output.scalars.withUnsafeMutableBufferPointer { out in
                    columnBlock.withUnsafeMutableBufferPointer { colBuffer in
                        channelBlock.withUnsafeMutableBufferPointer { yBuffer in
                            let (col, yBlock) = (colBuffer.baseAddress!, yBuffer.baseAddress!)
                            var start = 0
                            while start < batch {
                                let nb = min(nbMax, batch &- start)
                                let ld = nb &* columns
                                for i in 0..<nb {
                                    g.expand(
                                        input.baseAddress! + (start &+ i) &* inputStride, into: col + i &* columns,
                                        rowStride: ld)
                                }
                                // Y [OC, nb·OHW] = W [OC, CKK] · col [CKK, nb·OHW]
                                BLAS.gemm(
                                    .none, .none, m: outChannels, n: ld, k: rows, alpha: 1, a: w, lda: rows,
                                    b: col, ldb: ld, beta: 0, c: yBlock, ldc: ld)
                                for i in 0..<nb {
                                    let target = out.baseAddress! + (start &+ i) &* outputStride
                                    for oc in 0..<outChannels {
                                        let from = yBlock + (oc &* ld &+ i &* columns)
                                        let to = target + oc &* columns
                                        let bias = b[oc]
                                        for j in 0..<columns { to[j] = from[j] + bias }
                                    }
                                }
                                start &+= nb
                            }
                        }
                    }
                }
            }
        }
        cachedInput = training ? x : nil
        return output
    }

    // dy: [batch, outChannels, OH, OW] → dx: [batch, inChannels, H, W]
    // Per block: dY [OC, nb·OHW] gathered from dy; dW += dY · colᵀ; db += Σ_columns dY;
    // dcol [CKK, nb·OHW] = Wᵀ · dY, then col2im of each sample's columns into dx_n.
    public func backward(_ dy: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let x = cachedInput else { preconditionFailure("Conv2D.backward without a training forward") }
        cachedInput = nil
        let g = geometry(for: x)
        let batch = x.batchSize
        let (rows, columns, outChannels) = (g.rows, g.columns, outChannels)
        precondition(dy.shape == outputShape, "Conv2D.backward: dy \(dy.shape), expected \(outputShape)")
        let nbMax = blockSize(g, batch: batch)
        reserveBlocks(g, samples: nbMax)
        if needsInputGradient { inputGradient.prepare(x.shape, zeroed: true) }
        let inputStride = x.sampleCount
        let outputStride = outChannels &* columns
        parameters.withValues(parameterRange) { p in
            let w = p.baseAddress!
            parameters.withGradients(parameterRange) { grad in
                let dw = grad.baseAddress!
                let db = dw + outChannels &* rows
                x.scalars.withUnsafeBufferPointer { input in
                    dy.scalars.withUnsafeBufferPointer { d in
                        columnBlock.withUnsafeMutableBufferPointer { colBuffer in
                            channelBlock.withUnsafeMutableBufferPointer { dyBuffer in
                                let (col, dyBlock) = (colBuffer.baseAddress!, dyBuffer.baseAddress!)
                                var start = 0
                                while start < batch {
                                    let nb = min(nbMax, batch &- start)
                                    let ld = nb &* columns
                                    for i in 0..<nb {
                                        g.expand(
                                            input.baseAddress! + (start &+ i) &* inputStride,
                                            into: col + i &* columns, rowStride: ld)
                                        let source = d.baseAddress! + (start &+ i) &* outputStride
                                        for oc in 0..<outChannels {
                                            (dyBlock + (oc &* ld &+ i &* columns)).update(
                                                from: source + oc &* columns, count: columns)
                                        }
                                    }
                                    // dW [OC, CKK] += dY [OC, nb·OHW] · colᵀ [nb·OHW, CKK]
                                    BLAS.gemm(
                                        .none, .transposed, m: outChannels, n: rows, k: ld, alpha: 1,
                                        a: dyBlock, lda: ld, b: col, ldb: ld, beta: 1, c: dw, ldc: rows)
                                    for oc in 0..<outChannels {
                                        var sum: Float = 0
                                        let line = dyBlock + oc &* ld
                                        for j in 0..<ld { sum += line[j] }
                                        db[oc] += sum
                                    }
                                    if needsInputGradient {
                                        // dcol [CKK, nb·OHW] = Wᵀ [CKK, OC] · dY [OC, nb·OHW], into the col buffer
                                        BLAS.gemm(
                                            .transposed, .none, m: rows, n: ld, k: outChannels, alpha: 1,
                                            a: w, lda: rows, b: dyBlock, ldb: ld, beta: 0, c: col, ldc: ld)
                                        inputGradient.scalars.withUnsafeMutableBufferPointer { out in
                                            for i in 0..<nb {
                                                g.accumulate(
                                                    col + i &* columns, rowStride: ld,
                                                    into: out.baseAddress! + (start &+ i) &* inputStride)
                                            }
                                        }
                                    }
                                    start &+= nb
                                }
                            }
                        }
                    }
                }
            }
        }
        return needsInputGradient ? inputGradient : nil
    }
}
