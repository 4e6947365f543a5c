import Testing
import ThawNN

/// Central-difference checks of every layer's backward pass and of the loss.
@Suite struct LayerGradientTests {
    @Test(arguments: [(3, 4, 5), (1, 1, 1), (2, 7, 3)])
    func denseGradientsMatchFiniteDifferences(batch: Int, inputs: Int, outputs: Int) throws {
        var generator = SeededGenerator(seed: 11)
        let buffer = ParameterBuffer(count: inputs * outputs + outputs)
        buffer.values = (0..<buffer.count).map { _ in generator.nextUnitFloat() - 0.5 }
        let layer = Dense(inputs: inputs, outputs: outputs, parameters: buffer, offset: 0)
        let x = GradientCheck.randomTensor([batch, inputs], &generator)
        try GradientCheck.check(
            layer: layer, buffer: buffer, input: x, epsilon: 1e-2, tolerance: .linear, generator: &generator)
    }

    struct ConvCase: Sendable, CustomTestStringConvertible {
        var batch, inChannels, outChannels, height, width, kernel, stride, padding: Int
        var testDescription: String {
            "n\(batch) c\(inChannels)→\(outChannels) \(height)x\(width) k\(kernel) s\(stride) p\(padding)"
        }
    }

    static let convCases: [ConvCase] = [
        ConvCase(batch: 2, inChannels: 2, outChannels: 3, height: 5, width: 5, kernel: 3, stride: 1, padding: 1),
        ConvCase(batch: 1, inChannels: 1, outChannels: 2, height: 7, width: 6, kernel: 3, stride: 2, padding: 0),
        ConvCase(batch: 2, inChannels: 3, outChannels: 1, height: 6, width: 5, kernel: 2, stride: 2, padding: 2),
        ConvCase(batch: 1, inChannels: 2, outChannels: 2, height: 4, width: 4, kernel: 1, stride: 1, padding: 0),
    ]

    @Test(arguments: convCases)
    func conv2DGradientsMatchFiniteDifferences(_ c: ConvCase) throws {
        var generator = SeededGenerator(seed: 12)
        let spec = LayerSpec.conv2D(
            inChannels: c.inChannels, outChannels: c.outChannels, kernel: c.kernel, stride: c.stride, padding: c.padding
        )
        let buffer = ParameterBuffer(count: spec.parameterCount)
        buffer.values = (0..<buffer.count).map { _ in generator.nextUnitFloat() - 0.5 }
        let layer = Conv2D(
            inChannels: c.inChannels, outChannels: c.outChannels, kernel: c.kernel, stride: c.stride,
            padding: c.padding, parameters: buffer, offset: 0)
        let x = GradientCheck.randomTensor([c.batch, c.inChannels, c.height, c.width], &generator)
        try GradientCheck.check(
            layer: layer, buffer: buffer, input: x, epsilon: 1e-2, tolerance: .linear, generator: &generator)
    }

    @Test func reluGradientMatchesFiniteDifferences() throws {
        var generator = SeededGenerator(seed: 13)
        // Keep every input at least 0.05 from the kink at 0, well beyond ε = 1e-3.
        let values = (0..<24).map { _ in
            let v = generator.nextUnitFloat() * 2 - 1
            return v >= 0 ? v + 0.05 : v - 0.05
        }
        try GradientCheck.check(
            layer: ReLU(), buffer: nil, input: Tensor(shape: [2, 3, 4], scalars: values), epsilon: 1e-3,
            tolerance: .piecewise, generator: &generator)
    }

    @Test(arguments: [(2, 2), (3, 2), (2, 1)])
    func maxPoolGradientMatchesFiniteDifferences(size: Int, stride: Int) throws {
        var generator = SeededGenerator(seed: 14)
        // Distinct values 0.01 apart, shuffled: no window has a near-tie that ε = 1e-3 could flip.
        let count = 2 * 2 * 5 * 6
        var values = (0..<count).map { Float($0) * 0.01 - 1 }
        values.shuffle(using: &generator)
        try GradientCheck.check(
            layer: MaxPool2D(size: size, stride: stride), buffer: nil,
            input: Tensor(shape: [2, 2, 5, 6], scalars: values), epsilon: 1e-3, tolerance: .piecewise,
            generator: &generator)
    }

    @Test func flattenGradientMatchesFiniteDifferences() throws {
        var generator = SeededGenerator(seed: 15)
        try GradientCheck.check(
            layer: Flatten(), buffer: nil, input: GradientCheck.randomTensor([2, 3, 2, 2], &generator),
            epsilon: 1e-2, tolerance: .linear, generator: &generator)
    }

    @Test func dropoutWithFixedMaskGradientMatchesFiniteDifferences() throws {
        var generator = SeededGenerator(seed: 16)
        let layer = Dropout(rate: 0.4, generator: SeededGenerator(seed: 99))
        layer.freezesMask = true
        try GradientCheck.check(
            layer: layer, buffer: nil, input: GradientCheck.randomTensor([3, 10], &generator), epsilon: 1e-2,
            tolerance: .linear, generator: &generator)
    }

    @Test func dropoutIsIdentityAtInferenceAndScalesSurvivorsInTraining() {
        let layer = Dropout(rate: 0.5, generator: SeededGenerator(seed: 1))
        let x = Tensor(shape: [1, 1000], scalars: [Float](repeating: 1, count: 1000))
        #expect(layer.forward(x, training: false) == x)
        let y = layer.forward(x, training: true)
        #expect(y.scalars.allSatisfy { $0 == 0 || $0 == 2 })
        let kept = y.scalars.filter { $0 != 0 }.count
        #expect(kept > 400 && kept < 600)
    }

    @Test(arguments: [(4, 3), (1, 10), (5, 2)])
    func softmaxCrossEntropyGradientMatchesFiniteDifferences(batch: Int, classes: Int) throws {
        var generator = SeededGenerator(seed: 17)
        let logits = GradientCheck.randomTensor([batch, classes], &generator)
        let labels = (0..<batch).map { _ in Int(generator.next() % UInt64(classes)) }
        let (_, gradient) = SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: labels)
        let epsilon: Float = 1e-3
        for i in 0..<logits.count {
            var plus = logits
            plus.scalars[i] += epsilon
            var minus = logits
            minus.scalars[i] -= epsilon
            let numeric =
                (Double(SoftmaxCrossEntropy.loss(logits: plus, labels: labels))
                    - Double(SoftmaxCrossEntropy.loss(logits: minus, labels: labels))) / (2 * Double(epsilon))
            try GradientCheck.compare("dlogits", i, Double(gradient.scalars[i]), numeric, .loss)
        }
    }

    @Test func softmaxCrossEntropyOfUniformLogitsIsLogClasses() {
        let logits = Tensor.zeros([3, 10])
        let loss = SoftmaxCrossEntropy.loss(logits: logits, labels: [0, 5, 9])
        #expect(abs(Double(loss) - 2.302_585_093) < 1e-6)
    }

    @Test func softmaxCrossEntropyIsStableForHugeLogits() {
        let logits = Tensor(shape: [1, 3], scalars: [1000, -1000, 0])
        let (loss, gradient) = SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: [0])
        #expect(loss.isFinite && loss < 1e-6)
        #expect(gradient.scalars.allSatisfy { $0.isFinite })
    }
}
