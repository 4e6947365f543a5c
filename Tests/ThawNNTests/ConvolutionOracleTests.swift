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
}
