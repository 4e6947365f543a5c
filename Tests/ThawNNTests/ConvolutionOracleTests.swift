import Testing
import ThawNN

/// Conv2D (im2col + GEMM) against a direct seven-loop convolution.
@Suite struct ConvolutionOracleTests {
    /// y[n, o, i, j] = b[o] + Σ_c Σ_ki Σ_kj W[o, c, ki, kj] · x[n, c, i·s − p + ki, j·s − p + kj] (zero outside).
    static func directConvolution(
        _ x: Tensor, weights: [Float], bias: [Float], outChannels: Int, kernel: Int, stride: Int, padding: Int
    ) -> Tensor {
        let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = (height + 2 * padding - kernel) / stride + 1
        let ow = (width + 2 * padding - kernel) / stride + 1
        var y = Tensor.zeros([batch, outChannels, oh, ow])
        for n in 0..<batch {
            for o in 0..<outChannels {
                for i in 0..<oh {
                    for j in 0..<ow {
                        var sum = Double(bias[o])
                        for c in 0..<channels {
                            for ki in 0..<kernel {
                                for kj in 0..<kernel {
                                    let (yy, xx) = (i * stride - padding + ki, j * stride - padding + kj)
                                    guard yy >= 0, yy < height, xx >= 0, xx < width else { continue }
                                    let w = weights[((o * channels + c) * kernel + ki) * kernel + kj]
                                    sum +=
                                        Double(w) * Double(x.scalars[((n * channels + c) * height + yy) * width + xx])
                                }
                            }
                        }
                        y.scalars[((n * outChannels + o) * oh + i) * ow + j] = Float(sum)
                    }
                }
            }
        }
        return y
    }

    static let cases: [LayerGradientTests.ConvCase] =
        LayerGradientTests.convCases + [
            .init(batch: 3, inChannels: 1, outChannels: 4, height: 28, width: 28, kernel: 5, stride: 1, padding: 2),
            .init(batch: 2, inChannels: 4, outChannels: 3, height: 9, width: 11, kernel: 3, stride: 3, padding: 1),
            .init(batch: 1, inChannels: 2, outChannels: 2, height: 3, width: 3, kernel: 5, stride: 1, padding: 1),
        ]

    @Test(arguments: cases)
    func im2colConvolutionMatchesDirectConvolution(_ c: LayerGradientTests.ConvCase) {
        var generator = SeededGenerator(seed: 21)
        let spec = LayerSpec.conv2D(
            inChannels: c.inChannels, outChannels: c.outChannels, kernel: c.kernel, stride: c.stride, padding: c.padding
        )
        let buffer = ParameterBuffer(count: spec.parameterCount)
        buffer.values = (0..<buffer.count).map { _ in generator.nextUnitFloat() - 0.5 }
        let layer = Conv2D(
            inChannels: c.inChannels, outChannels: c.outChannels, kernel: c.kernel, stride: c.stride,
            padding: c.padding, parameters: buffer, offset: 0)
        let x = GradientCheck.randomTensor([c.batch, c.inChannels, c.height, c.width], &generator)
        let weightCount = spec.parameterCount - c.outChannels
        let expected = Self.directConvolution(
            x, weights: Array(buffer.values[0..<weightCount]), bias: Array(buffer.values[weightCount...]),
            outChannels: c.outChannels, kernel: c.kernel, stride: c.stride, padding: c.padding)
        let y = layer.forward(x, training: false)
        #expect(y.shape == expected.shape)
        let worst = zip(y.scalars, expected.scalars).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-4, "max error \(worst)")
    }

    /// Shapes for the blocked path against the per-sample oracle: the FedAvg CNN's two convolutions (the
    /// second with a batch of 16), the small CNN's, strides
    /// 2 and 3, padding wider than the kernel's reach, and 1×1 kernels.
    static let batchedCases: [LayerGradientTests.ConvCase] = [
        .init(batch: 5, inChannels: 1, outChannels: 32, height: 28, width: 28, kernel: 5, stride: 1, padding: 2),
        .init(batch: 16, inChannels: 32, outChannels: 64, height: 14, width: 14, kernel: 5, stride: 1, padding: 2),
        .init(batch: 4, inChannels: 8, outChannels: 16, height: 14, width: 14, kernel: 3, stride: 1, padding: 1),
        .init(batch: 3, inChannels: 2, outChannels: 3, height: 7, width: 6, kernel: 3, stride: 2, padding: 0),
        .init(batch: 2, inChannels: 4, outChannels: 3, height: 9, width: 11, kernel: 3, stride: 3, padding: 1),
        .init(batch: 2, inChannels: 3, outChannels: 2, height: 6, width: 5, kernel: 2, stride: 2, padding: 2),
        .init(batch: 3, inChannels: 2, outChannels: 2, height: 3, width: 3, kernel: 5, stride: 1, padding: 1),
        .init(batch: 2, inChannels: 3, outChannels: 4, height: 5, width: 4, kernel: 1, stride: 1, padding: 0),
    ]

    /// Automatic blocks, one sample per block, and three per block (a short last block for most batches), each
    /// unsplit and with the batch split over two and three threads (uneven parts, single-sample parts).
    static let blockings: [(block: Int?, parts: Int?)] = [nil, 1, 3].flatMap { block in
        [1, 2, 3].map { (block: block, parts: $0) }
    }

    static func makeLayer(_ c: LayerGradientTests.ConvCase, _ generator: inout SeededGenerator)
        -> (Conv2D, ParameterBuffer)
    {
        let spec = LayerSpec.conv2D(
            inChannels: c.inChannels, outChannels: c.outChannels, kernel: c.kernel, stride: c.stride, padding: c.padding
        )
        let buffer = ParameterBuffer(count: spec.parameterCount)
        buffer.values = (0..<buffer.count).map { _ in generator.nextUnitFloat() - 0.5 }
        let layer = Conv2D(
            inChannels: c.inChannels, outChannels: c.outChannels, kernel: c.kernel, stride: c.stride,
            padding: c.padding, parameters: buffer, offset: 0)
        return (layer, buffer)
    }

    static func worstError(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count, "\(a.count) vs \(b.count) values")
        return zip(a, b).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
    }

    @Test(arguments: batchedCases)
    func blockedForwardMatchesPerSampleOracle(_ c: LayerGradientTests.ConvCase) {
        var generator = SeededGenerator(seed: 31)
        let (layer, _) = Self.makeLayer(c, &generator)
        let x = GradientCheck.randomTensor([c.batch, c.inChannels, c.height, c.width], &generator)
        let expected = layer.referenceForward(x)
        for (block, parts) in Self.blockings {
            layer.samplesPerBlock = block
            layer.splitParts = parts
            let y = layer.forward(x, training: false)
            #expect(y.shape == expected.shape)
            #expect(
                Self.worstError(y.scalars, expected.scalars) < 1e-5,
                "samples per block \(block.map(String.init) ?? "auto"), \(parts.map(String.init) ?? "auto") parts")
        }
    }

    @Test(arguments: batchedCases)
    func blockedBackwardMatchesPerSampleOracle(_ c: LayerGradientTests.ConvCase) throws {
        var generator = SeededGenerator(seed: 32)
        let (layer, buffer) = Self.makeLayer(c, &generator)
        let x = GradientCheck.randomTensor([c.batch, c.inChannels, c.height, c.width], &generator)
        let probe = layer.referenceForward(x)
        let dy = GradientCheck.randomTensor(probe.shape, &generator)
        let expected = layer.referenceBackward(dy, input: x, needsInputGradient: true)
        for (block, parts) in Self.blockings {
            layer.samplesPerBlock = block
            layer.splitParts = parts
            for needsInput in [true, false] {
                buffer.zeroGradients(for: 0..<buffer.count)
                _ = layer.forward(x, training: true)
                let dx = layer.backward(dy, needsInputGradient: needsInput)
                #expect(Self.worstError(buffer.gradients, expected.parameterGradient) < 1e-4)
                if needsInput {
                    let gradient = try #require(dx)
                    let oracle = try #require(expected.inputGradient)
                    #expect(gradient.shape == x.shape)
                    #expect(Self.worstError(gradient.scalars, oracle.scalars) < 1e-5)
                } else {
                    #expect(dx == nil)
                }
            }
        }
    }

    /// Training steps of the whole FedAvg CNN give the same losses and parameters with the batched, split
    /// convolution as with one GEMM per sample on one thread (the path before issue 19), to float rounding.
    @Test func fedAvgTrainingStepsMatchThePerSamplePath() {
        var generator = SeededGenerator(seed: 34)
        let architecture = ModelArchitecture.fedAvgCNN(classes: 10)
        let batch = 12
        let x = GradientCheck.randomTensor([batch] + architecture.inputShape, &generator)
        let labels = (0..<batch).map { $0 % 10 }
        let perSample = Model(architecture: architecture, seed: 7)
        let batched = Model(architecture: architecture, seed: 7)
        for index in 0..<perSample.layerCount {
            if let conv = perSample.layer(at: index) as? Conv2D {
                conv.samplesPerBlock = 1
                conv.splitParts = 1
            }
            if let conv = batched.layer(at: index) as? Conv2D { conv.splitParts = 2 }
        }
        var sgdA = SGD(learningRate: 0.05, momentum: 0.9)
        var sgdB = SGD(learningRate: 0.05, momentum: 0.9)
        for step in 0..<3 {
            let a = perSample.trainStep(input: x, labels: labels, freezePoint: FreezePoint(0), optimizer: &sgdA)
            let b = batched.trainStep(input: x, labels: labels, freezePoint: FreezePoint(0), optimizer: &sgdB)
            #expect(abs(a - b) <= 1e-5 * max(1, abs(a)), "step \(step): loss \(a) vs \(b)")
        }
        #expect(Self.worstError(batched.parameters, perSample.parameters) < 1e-5)
    }

    /// Two layers splitting their batches from two threads at once: one split gets the helper threads, the other
    /// runs its parts in turn, and both match the oracle.
    @Test func concurrentSplitsFromTwoThreadsMatchTheOracle() async {
        let c = Self.batchedCases[1]
        let results = await withTaskGroup(of: Float.self) { group in
            for seed in [35, 36] {
                group.addTask {
                    var generator = SeededGenerator(seed: UInt64(seed))
                    let (layer, _) = Self.makeLayer(c, &generator)
                    layer.splitParts = 2
                    let x = GradientCheck.randomTensor([c.batch, c.inChannels, c.height, c.width], &generator)
                    let expected = layer.referenceForward(x)
                    var worst: Float = 0
                    for _ in 0..<20 {
                        worst = max(worst, Self.worstError(layer.forward(x, training: false).scalars, expected.scalars))
                    }
                    return worst
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 2 && results.allSatisfy { $0 < 1e-5 }, "worst errors \(results)")
    }

    /// Reused output buffers keep value semantics: an output held by the caller survives the next call, and a
    /// change of batch size gives correctly shaped results.
    @Test func reusedBuffersDoNotOverwriteHeldOutputs() {
        var generator = SeededGenerator(seed: 33)
        let c = Self.batchedCases[2]
        let (layer, _) = Self.makeLayer(c, &generator)
        let x1 = GradientCheck.randomTensor([3, c.inChannels, c.height, c.width], &generator)
        let x2 = GradientCheck.randomTensor([5, c.inChannels, c.height, c.width], &generator)
        let y1 = layer.forward(x1, training: false)
        let copy1 = y1.scalars
        let y2 = layer.forward(x2, training: false)
        let y3 = layer.forward(x1, training: false)
        #expect(y1.scalars == copy1)
        #expect(y3 == y1)
        #expect(y2.shape[0] == 5)
        #expect(Self.worstError(y2.scalars, layer.referenceForward(x2).scalars) < 1e-5)
    }
}
