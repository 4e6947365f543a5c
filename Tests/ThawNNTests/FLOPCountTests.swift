import Testing

@testable import ThawNN

@Suite struct FLOPCountTests {
    @Test func forwardCountsTwoFLOPsPerMACPlusElementwise() {
        let model = Model(architecture: .mlpHead(inputs: 8, hidden: 4, depth: 1, classes: 3), seed: 1)
        _ = model.forward(Tensor.zeros([5, 8]), layers: 0..<3, training: false)
        // dense 8→4: 32 MACs + 4 bias adds; relu: 4; dense 4→3: 12 MACs + 3; per sample 64+4+4+24+3 = 99.
        #expect(model.executedFLOPs.forward == 5 * 99)
        #expect(model.executedFLOPs.backward == 0)
    }

    @Test func aTrainingStepMatchesTheArchitecturesEstimate() {
        let architecture = ModelArchitecture.smallCNN()
        let model = Model(architecture: architecture, seed: 2)
        var optimizer = SGD(learningRate: 0.1)
        let freeze = FreezePoint(3)
        let input = Tensor.zeros([6] + architecture.activationShape(at: 3))
        model.resetExecutedFLOPs()
        model.trainStep(input: input, labels: [0, 1, 2, 3, 4, 5], freezePoint: freeze, optimizer: &optimizer)
        #expect(model.executedFLOPs == architecture.trainingStepFLOPs(freezePoint: freeze, samples: 6))
        #expect(model.executedFLOPs.backward > model.executedFLOPs.forward)
    }
}
