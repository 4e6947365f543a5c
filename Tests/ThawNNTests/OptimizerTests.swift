import Testing
import ThawNN

/// Update rules checked against values computed by hand.
@Suite struct OptimizerTests {
    @Test func plainSGDStepsAgainstTheGradient() {
        var sgd = SGD(learningRate: 0.1)
        var p: [Float] = [9, 1, 2, 9]
        sgd.step(parameters: &p, gradients: [0.5, -1], range: 1..<3)
        let expected: [Float] = [9, 0.95, 2.1, 9]
        #expect(zip(p, expected).allSatisfy { abs($0 - $1) <= 1e-6 }, "\(p)")
    }

    @Test func sgdMomentumAndWeightDecayFollowPyTorchRule() {
        // v1 = g + wd·p = 1 + 0.1·2 = 1.2; p1 = 2 − 0.5·1.2 = 1.4
        // v2 = 0.9·1.2 + (1 + 0.1·1.4) = 2.22; p2 = 1.4 − 0.5·2.22 = 0.29
        var sgd = SGD(learningRate: 0.5, momentum: 0.9, weightDecay: 0.1)
        var p: [Float] = [2]
        sgd.step(parameters: &p, gradients: [1], range: 0..<1)
        #expect(abs(p[0] - 1.4) < 1e-6)
        sgd.step(parameters: &p, gradients: [1], range: 0..<1)
        #expect(abs(p[0] - 0.29) < 1e-5)
    }

    @Test func adamFirstStepMovesByLearningRateTimesSign() {
        // Step 1: m̂ = g, v̂ = g², so the update is lr · g/(|g| + ε) ≈ lr · sign(g).
        var adam = Adam(learningRate: 0.01)
        var p: [Float] = [1, 1]
        adam.step(parameters: &p, gradients: [3, -0.2], range: 0..<2)
        #expect(abs(p[0] - 0.99) < 1e-6)
        #expect(abs(p[1] - 1.01) < 1e-6)
    }

    @Test func adamSecondStepMatchesHandComputation() {
        // β1 = 0.5, β2 = 0.5, g1 = 1, g2 = 3, ε = 0:
        // m2 = 0.5·0.5 + 0.5·3 = 1.75, v2 = 0.5·0.5 + 0.5·9 = 4.75; m̂ = 1.75/0.75, v̂ = 4.75/0.75.
        // p2 = p1 − 0.1·m̂/√v̂ with p1 = 1 − 0.1 = 0.9.
        var adam = Adam(learningRate: 0.1, beta1: 0.5, beta2: 0.5, epsilon: 1e-12)
        var p: [Float] = [1]
        adam.step(parameters: &p, gradients: [1], range: 0..<1)
        adam.step(parameters: &p, gradients: [3], range: 0..<1)
        let expected = 0.9 - 0.1 * (1.75 / 0.75) / (4.75 / 0.75).squareRoot()
        #expect(abs(Double(p[0]) - expected) < 1e-6)
    }

    @Test func adamWeightDecayIsDecoupled() {
        // With g = 0 the moments stay 0 and only the decay acts: p ← p − lr·wd·p.
        var adam = Adam(learningRate: 0.1, weightDecay: 0.5)
        var p: [Float] = [2]
        adam.step(parameters: &p, gradients: [0], range: 0..<1)
        #expect(abs(p[0] - 1.9) < 1e-6)
    }

    @Test func configRoundTripsThroughOptimizer() {
        let configs: [OptimizerConfig] = [
            .sgd(learningRate: 0.05, momentum: 0.9, weightDecay: 1e-4),
            .adam(learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0),
        ]
        for config in configs { #expect(config.makeOptimizer().config == config) }
    }
}
