/// A 2-D convolution over NCHW batches via im2col and one GEMM per block of samples.
///
/// Parameters in the buffer: W `[outChannels, inChannels, kernel, kernel]` then b `[outChannels]`.
///
/// The batch is cut into blocks of nb samples whose column matrices sit side by side; each block is one im2col
/// pass and one GEMM `[OC, CKK] · [CKK, nb·OH·OW]`. A block holds about ``columnsPerThread`` output pixels per
/// OpenBLAS thread (see there for the measurement behind it), never more than ``columnBudget`` floats. With
/// more than one thread and ``BatchSplit/Strategy/splitBatch`` (the default), the batch is first cut into one
/// part per thread and each part runs its blocks on its own thread with single-threaded GEMMs. The column
/// matrix is recomputed in backward rather than cached, trading a cheap rearrangement for batch × C·K·K × OH·OW
/// floats of memory. All scratch and output buffers belong to the layer and are reused from step to step.
/// ``referenceForward(_:)`` and ``referenceBackward(_:input:needsInputGradient:)`` keep the
/// one-GEMM-per-sample path as the oracle.
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
    /// One scratch set per part of a split batch (``BatchSplit``); part 0's also serves the unsplit path.
    private var scratch: [ConvScratch] = [ConvScratch()]

    /// Floats of column matrix per block at most (8 MiB), whatever the thread count.
    public static let columnBudget = 1 << 21

    /// GEMM columns (output pixels) per block and OpenBLAS thread. Measured with OpenBLAS 0.3.21 on this
    /// machine's Cooperlake kernels, one thread: the FedAvg CNN's conv GEMMs ran at 95–111 GFLOP/s with 784–1,000
    /// columns, and at 55–85 GFLOP/s with 2,500–50,000 columns (the whole batch), once the column block and
    /// the result no longer stay in the 1 MiB L2. With more than one OpenBLAS thread per GEMM (strategy
    /// ``BatchSplit/Strategy/blasThreads``; a split part uses one) a block is 4 × 1,024 columns per
    /// thread: every GEMM call is a point where OpenBLAS's threads meet, and on a machine shared with other
    /// processes a worker thread that is not running stalls that call, so fewer, wider calls lose less (not
    /// tuned on an idle machine; see docs/LEARNING.md).
    public static let columnsPerThread = 1024

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

    /// Samples per block; nil (the default) chooses from the geometry and the thread count. Tests set it to
    /// exercise one-sample blocks and a short last block whatever the machine.
    public var samplesPerBlock: Int?

    /// Parts the batch is cut into, one thread each; nil (the default) follows ``BatchSplit``. Tests set it to
    /// exercise splits (including more parts than cores) whatever the machine.
    public var splitParts: Int?

    func parts(batch: Int) -> Int {
        if let splitParts { return max(1, min(batch, splitParts)) }
        return BatchSplit.parts(batch: batch)
    }

    /// Samples per block for this geometry and batch.
    func blockSize(_ g: Im2Col, batch: Int, threads: Int) -> Int {
        if let samplesPerBlock { return max(1, min(batch, samplesPerBlock)) }
        let wanted = (threads == 1 ? Conv2D.columnsPerThread : 4 &* Conv2D.columnsPerThread &* threads) / max(1, g.columns)
        let affordable = Conv2D.columnBudget / max(1, g.rows &* g.columns)
        return max(1, min(batch, wanted, affordable))
    }

    /// The scratch sets for `parts` parts (made once, kept for later calls).
    private func scratchSets(_ parts: Int) -> [ConvScratch] {
        while scratch.count < parts { scratch.append(ConvScratch()) }
        return scratch
    }

    // x: [batch, inChannels, H, W] → y: [batch, outChannels, OH, OW]
    // Per block of nb samples: col [CKK, nb·OHW] = im2col(x_block); Y [OC, nb·OHW] = W · col;
    // y[n, oc, :] = Y[oc, n·OHW ..< (n+1)·OHW] + b[oc]. Under a batch split each part walks its own samples.
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        let g = geometry(for: x)
        let batch = x.batchSize
        precondition(batch > 0, "Conv2D.forward on an empty batch")
        output.prepare(outputShape)
        let parts = parts(batch: batch)
        _ = scratchSets(parts)
        let gemmThreads = parts == 1 ? BLAS.threadCount : 1
        let shape = ConvShape(geometry: g, outChannels: outChannels, sampleStride: x.sampleCount)
        parameters.withValues(parameterRange) { p in
            x.scalars.withUnsafeBufferPointer { input in
                output.scalars.withUnsafeMutableBufferPointer { out in
                    let (w, source, target) = (p.baseAddress!, input.baseAddress!, out.baseAddress!)
                    pending = .forward(
                        ForwardCall(
                            shape: shape, batch: batch, parts: parts, gemmThreads: gemmThreads, weights: w,
                            input: source, output: target))
                    BatchSplit.run(parts: parts, job: self)
                    pending = nil
                }
            }
        }
        cachedInput = training ? x : nil
        return output
    }

    // dy: [batch, outChannels, OH, OW] → dx: [batch, inChannels, H, W]
    // Per block: dY [OC, nb·OHW] (dy_n itself for one sample, else gathered); dW += dY · colᵀ;
    // db += Σ_columns dY; dcol [CKK, nb·OHW] = Wᵀ · dY, then col2im of each sample's columns into dx_n.
    // Under a batch split, part 0 accumulates into the parameter gradients and every other part into its own
    // zeroed copy, added on afterwards in part order (the sums are the same, in a different order).
    public func backward(_ dy: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let x = cachedInput else { preconditionFailure("Conv2D.backward without a training forward") }
        cachedInput = nil
        let g = geometry(for: x)
        let batch = x.batchSize
        precondition(dy.shape == outputShape, "Conv2D.backward: dy \(dy.shape), expected \(outputShape)")
        if needsInputGradient { inputGradient.prepare(x.shape, zeroed: true) }
        let parts = parts(batch: batch)
        let sets = scratchSets(parts)
        let gemmThreads = parts == 1 ? BLAS.threadCount : 1
        let shape = ConvShape(geometry: g, outChannels: outChannels, sampleStride: x.sampleCount)
        let gradientCount = parameterRange.count
        for part in 1..<max(1, parts) { sets[part].zeroWeightGradient(count: gradientCount) }
        parameters.withValues(parameterRange) { p in
            parameters.withGradients(parameterRange) { grad in
                x.scalars.withUnsafeBufferPointer { input in
                    dy.scalars.withUnsafeBufferPointer { d in
                        inputGradient.scalars.withUnsafeMutableBufferPointer { dxBuffer in
                            let (w, source, gradient) = (p.baseAddress!, input.baseAddress!, d.baseAddress!)
                            let dx = needsInputGradient ? dxBuffer.baseAddress! : nil
                            let dw = grad.baseAddress!
                            pending = .backward(
                                BackwardCall(
                                    shape: shape, batch: batch, parts: parts, gemmThreads: gemmThreads, weights: w,
                                    input: source, outputGradient: gradient, weightGradient: dw, inputGradient: dx))
                            BatchSplit.run(parts: parts, job: self)
                            pending = nil
                            for part in 1..<max(1, parts) {
                                sets[part].addWeightGradient(to: dw, count: gradientCount)
                            }
                        }
                    }
                }
            }
        }
        return needsInputGradient ? inputGradient : nil
    }

    /// The call whose parts ``runPart(_:)`` runs: set just before ``BatchSplit/run(parts:job:)``, cleared after.
    private var pending: PendingCall?

    private enum PendingCall {
        case forward(ForwardCall)
        case backward(BackwardCall)
    }

    private struct ForwardCall {
        var shape: ConvShape
        var batch, parts, gemmThreads: Int
        var weights, input: UnsafePointer<Float>
        var output: UnsafeMutablePointer<Float>
    }

    private struct BackwardCall {
        var shape: ConvShape
        var batch, parts, gemmThreads: Int
        var weights, input, outputGradient: UnsafePointer<Float>
        var weightGradient: UnsafeMutablePointer<Float>
        var inputGradient: UnsafeMutablePointer<Float>?
    }
}

extension Conv2D: SplitJob {
    /// One part of the pending call, on whichever thread ``BatchSplit`` gives it; parts touch disjoint samples,
    /// their own ``ConvScratch`` and (all but part 0) their own weight-gradient copy.
    func runPart(_ part: Int) {
        switch pending {
        case .forward(let call):
            let samples = BatchSplit.range(part: part, of: call.parts, batch: call.batch)
            let nb = blockSize(call.shape.geometry, batch: samples.count, threads: call.gemmThreads)
            scratch[part].forward(
                call.shape, samples: samples, blockSamples: nb, weights: call.weights, input: call.input,
                output: call.output)
        case .backward(let call):
            let samples = BatchSplit.range(part: part, of: call.parts, batch: call.batch)
            let nb = blockSize(call.shape.geometry, batch: samples.count, threads: call.gemmThreads)
            scratch[part].backward(
                call.shape, samples: samples, blockSamples: nb, weights: call.weights, input: call.input,
                outputGradient: call.outputGradient, weightGradient: part == 0 ? call.weightGradient : nil,
                inputGradient: call.inputGradient)
        case nil:
            preconditionFailure("Conv2D.runPart outside a split")
        }
    }
}

/// The sizes one convolution call works with.
struct ConvShape {
    var geometry: Im2Col
    var outChannels: Int
    /// Floats per input sample, C·H·W.
    var sampleStride: Int
}

/// The buffers one thread of a convolution works in, reused from call to call.
final class ConvScratch {
    /// The block's column matrix `[CKK, nb·OHW]`; zero wherever a kernel tap falls in the padding.
    private var columnBlock: [Float] = []
    /// The layout whose padding zeros ``columnBlock`` holds.
    private var zeroedLayout: ColumnLayout?
    /// dcol in backward, `[CKK, nb·OHW]` (sized on the first backward that needs an input gradient).
    private var gradientBlock: [Float] = []
    /// The block's GEMM result `[OC, nb·OHW]` in forward, the gathered dy in backward.
    private var channelBlock: [Float] = []
    /// dW and db of this part's samples, for every part of a split but the first.
    private var partWeightGradient: [Float] = []

    private struct ColumnLayout: Equatable {
        var geometry: Im2Col
        var rowStride: Int
    }

    /// Sizes the buffers for blocks of `nb` samples. The column block keeps one layout (row stride
    /// nb·OH·OW, even for a shorter last block), so its padding positions stay zero from one call to the next
    /// and im2col writes only the pixels inside the image.
    private func reserve(_ g: Im2Col, outChannels: Int, samples nb: Int, inputGradient: Bool) {
        let layout = ColumnLayout(geometry: g, rowStride: nb &* g.columns)
        let columnCount = g.rows &* layout.rowStride
        let channelCount = outChannels &* layout.rowStride
        if channelBlock.count < channelCount { channelBlock = [Float](repeating: 0, count: channelCount) }
        if inputGradient && gradientBlock.count < columnCount {
            gradientBlock = [Float](repeating: 0, count: columnCount)
        }
        if columnBlock.count < columnCount {
            columnBlock = [Float](repeating: 0, count: columnCount)
        } else if zeroedLayout != layout {
            columnBlock.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
        zeroedLayout = layout
    }

    func zeroWeightGradient(count: Int) {
        if partWeightGradient.count != count {
            partWeightGradient = [Float](repeating: 0, count: count)
        } else {
            partWeightGradient.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
    }

    func addWeightGradient(to target: UnsafeMutablePointer<Float>, count: Int) {
        partWeightGradient.withUnsafeBufferPointer { BLAS.axpy(count: count, alpha: 1, x: $0.baseAddress!, y: target) }
    }

    /// The forward pass of `samples`, in blocks of `blockSamples`.
    func forward(
        _ shape: ConvShape, samples: Range<Int>, blockSamples nbMax: Int, weights w: UnsafePointer<Float>,
        input: UnsafePointer<Float>, output out: UnsafeMutablePointer<Float>
    ) {
        let g = shape.geometry
        let (rows, columns, outChannels, inputStride) = (g.rows, g.columns, shape.outChannels, shape.sampleStride)
        reserve(g, outChannels: outChannels, samples: nbMax, inputGradient: false)
        let b = w + outChannels &* rows
        let outputStride = outChannels &* columns
        let ld = nbMax &* columns
        columnBlock.withUnsafeMutableBufferPointer { colBuffer in
            channelBlock.withUnsafeMutableBufferPointer { yBuffer in
                let (col, yBlock) = (colBuffer.baseAddress!, yBuffer.baseAddress!)
                var start = samples.lowerBound
                while start < samples.upperBound {
                    let nb = min(nbMax, samples.upperBound &- start)
                    for i in 0..<nb {
                        g.expand(
                            input + (start &+ i) &* inputStride, into: col + i &* columns, rowStride: ld,
                            paddingIsZero: true)
                    }
                    if nb == 1 {
                        // y_n [OC, OHW] = W [OC, CKK] · col [CKK, OHW], then + b
                        let target = out + start &* outputStride
                        BLAS.gemm(
                            .none, .none, m: outChannels, n: columns, k: rows, alpha: 1, a: w, lda: rows,
                            b: col, ldb: ld, beta: 0, c: target, ldc: columns)
                        for oc in 0..<outChannels {
                            let line = target + oc &* columns
                            let bias = b[oc]
                            for j in 0..<columns { line[j] += bias }
                        }
                        start &+= 1
                        continue
                    }
                    // Y [OC, nb·OHW] = W [OC, CKK] · col [CKK, nb·OHW]
                    BLAS.gemm(
                        .none, .none, m: outChannels, n: nb &* columns, k: rows, alpha: 1, a: w,
                        lda: rows, b: col, ldb: ld, beta: 0, c: yBlock, ldc: ld)
                    for i in 0..<nb {
                        let target = out + (start &+ i) &* outputStride
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

    /// The backward pass of `samples`: weight and bias gradients added into `weightGradient` (this part's own
    /// buffer when nil), input gradients written into the zeroed `inputGradient` when it is given.
    func backward(
        _ shape: ConvShape, samples: Range<Int>, blockSamples nbMax: Int, weights w: UnsafePointer<Float>,
        input: UnsafePointer<Float>, outputGradient d: UnsafePointer<Float>,
        weightGradient: UnsafeMutablePointer<Float>?, inputGradient: UnsafeMutablePointer<Float>?
    ) {
        let g = shape.geometry
        let (rows, columns, outChannels, inputStride) = (g.rows, g.columns, shape.outChannels, shape.sampleStride)
        reserve(g, outChannels: outChannels, samples: nbMax, inputGradient: inputGradient != nil)
        let outputStride = outChannels &* columns
        let ld = nbMax &* columns
        partWeightGradient.withUnsafeMutableBufferPointer { ownGradient in
            let dw = weightGradient ?? ownGradient.baseAddress!
            let db = dw + outChannels &* rows
            columnBlock.withUnsafeMutableBufferPointer { colBuffer in
                channelBlock.withUnsafeMutableBufferPointer { dyBuffer in
                    gradientBlock.withUnsafeMutableBufferPointer { dcolBuffer in
                        let (col, dyBlock) = (colBuffer.baseAddress!, dyBuffer.baseAddress!)
                        var start = samples.lowerBound
                        while start < samples.upperBound {
                            let nb = min(nbMax, samples.upperBound &- start)
                            let n = nb &* columns
                            for i in 0..<nb {
                                g.expand(
                                    input + (start &+ i) &* inputStride, into: col + i &* columns, rowStride: ld,
                                    paddingIsZero: true)
                                guard nb > 1 else { break }
                                let source = d + (start &+ i) &* outputStride
                                for oc in 0..<outChannels {
                                    (dyBlock + (oc &* ld &+ i &* columns)).update(
                                        from: source + oc &* columns, count: columns)
                                }
                            }
                            let (dY, ldY) =
                                nb == 1 ? (d + start &* outputStride, columns) : (UnsafePointer(dyBlock), ld)
                            // dW [OC, CKK] += dY [OC, nb·OHW] · colᵀ [nb·OHW, CKK]
                            BLAS.gemm(
                                .none, .transposed, m: outChannels, n: rows, k: n, alpha: 1,
                                a: dY, lda: ldY, b: col, ldb: ld, beta: 1, c: dw, ldc: rows)
                            for oc in 0..<outChannels {
                                var sum: Float = 0
                                let line = dY + oc &* ldY
                                for j in 0..<n { sum += line[j] }
                                db[oc] += sum
                            }
                            if let dx = inputGradient {
                                // dcol [CKK, nb·OHW] = Wᵀ [CKK, OC] · dY [OC, nb·OHW]
                                let dcol = dcolBuffer.baseAddress!
                                BLAS.gemm(
                                    .transposed, .none, m: rows, n: n, k: outChannels, alpha: 1,
                                    a: w, lda: rows, b: dY, ldb: ldY, beta: 0, c: dcol, ldc: ld)
                                for i in 0..<nb {
                                    g.accumulate(
                                        dcol + i &* columns, rowStride: ld, into: dx + (start &+ i) &* inputStride)
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
