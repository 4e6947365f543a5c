import Testing
import ThawNN

/// Whole-model behaviour: training, freezing, checkpoints and determinism.
@Suite struct ModelTests {
    /// Loss must fall to at most this fraction of its first value.
    static let requiredLossRatio: Float = 0.5

    @Test func mlpLossFallsOnSeparableBlobs() {
        let data = SyntheticData.blobs(count: 96, features: 8, classes: 3, seed: 5)
        let model = Model(architecture: .mlpHead(inputs: 8, hidden: 16, depth: 1, classes: 3), seed: 1)
        var optimizer = SGD(learningRate: 0.1, momentum: 0.9)
        var losses: [Float] = []
        for step in 0..<40 {
            let rows = (step * 32 % 96)..<(step * 32 % 96 + 32)
            losses.append(
                model.trainStep(
                    input: data.x.rows(rows), labels: Array(data.labels[rows]),
                    freezePoint: FreezePoint(0), optimizer: &optimizer))
        }
        #expect(losses.last! < losses.first! * Self.requiredLossRatio, "losses \(losses.first!) → \(losses.last!)")
        #expect(model.evaluate(data.x, labels: data.labels).accuracy > 0.95)
    }

    @Test func smallCNNTrainsEndToEndWithAdam() {
        let data = SyntheticData.quadrantImages(count: 32, side: 12, seed: 6)
        let model = Model(architecture: .smallCNN(classes: 4, inputSide: 12), seed: 2)
        var optimizer: any Optimizer = OptimizerConfig.adam(
            learningRate: 3e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0
        ).makeOptimizer()
        let first = model.evaluate(data.x, labels: data.labels).loss
        for _ in 0..<15 {
            model.trainStep(input: data.x, labels: data.labels, freezePoint: FreezePoint(0), optimizer: &optimizer)
        }
        let last = model.evaluate(data.x, labels: data.labels).loss
        #expect(last < first * Self.requiredLossRatio, "loss \(first) → \(last)")
    }

    @Test(arguments: [3, 7, 9])
    func trainStepLeavesBackboneBitIdentical(freezeIndex: Int) {
        let data = SyntheticData.quadrantImages(count: 8, side: 12, seed: 7)
        let model = Model(architecture: .smallCNN(classes: 4, inputSide: 12), seed: 3)
        let k = FreezePoint(freezeIndex)
        let backbone = model.parameterRange(layers: 0..<freezeIndex)
        let before = model.parameters
        let activation = model.forward(data.x, layers: 0..<freezeIndex, training: false)
        var optimizer = SGD(learningRate: 0.05, momentum: 0.9)
        for _ in 0..<3 {
            model.trainStep(input: activation, labels: data.labels, freezePoint: k, optimizer: &optimizer)
        }
        let after = model.parameters
        #expect(Array(after[backbone]) == Array(before[backbone]))
        #expect(
            model.headParameters(from: k) != Array(before[model.parameterRange(layers: freezeIndex..<model.layerCount)])
        )
        #expect(model.parameterBuffer.gradientRange == model.parameterRange(layers: freezeIndex..<model.layerCount))
    }

    @Test func advancingACheckpointEqualsRunningFromTheInput() {
        let data = SyntheticData.quadrantImages(count: 5, side: 12, seed: 8)
        let model = Model(architecture: .smallCNN(classes: 4, inputSide: 12), seed: 4)
        let (output, checkpoints) = model.forward(data.x, layers: 0..<3, recordingAt: [0, 2, 3])
        #expect(checkpoints.keys.sorted() == [0, 2, 3])
        #expect(checkpoints[3] == output)
        for target in [3, 6, 7, 9] {
            let direct = model.forward(data.x, layers: 0..<target, training: false)
            let advanced = model.advance(checkpoint: checkpoints[3]!, from: 3, to: target)
            #expect(advanced == direct, "advance 3→\(target)")
        }
        let fromTwo = model.advance(checkpoint: checkpoints[2]!, from: 2, to: 7)
        #expect(fromTwo == model.forward(data.x, layers: 0..<7, training: false))
        let store = ActivationCheckpoints(checkpoints)
        #expect(store.nearest(atOrBefore: 6)?.index == 3)
        #expect(store.nearest(atOrBefore: 1)?.index == 0)
    }

    @Test func sameSeedGivesSameParametersAndTraining() {
        let a = Model(architecture: .smallCNN(), seed: 42)
        let b = Model(architecture: .smallCNN(), seed: 42)
        let c = Model(architecture: .smallCNN(), seed: 43)
        #expect(a.parameters == b.parameters)
        #expect(a.parameters != c.parameters)
        let data = SyntheticData.blobs(count: 16, features: 784, classes: 10, seed: 9)
        var oa = SGD(learningRate: 0.01)
        var ob = SGD(learningRate: 0.01)
        let k = FreezePoint(7)
        let la = a.trainStep(input: data.x, labels: data.labels, freezePoint: k, optimizer: &oa)
        let lb = b.trainStep(input: data.x, labels: data.labels, freezePoint: k, optimizer: &ob)
        #expect(la == lb)
        #expect(a.parameters == b.parameters)
    }

    @Test func headParametersRoundTripAndCopyIsIndependent() {
        let model = Model(architecture: .smallCNN(), seed: 5)
        let k = FreezePoint(7)
        let head = model.headParameters(from: k)
        #expect(head.count == model.architecture.parameterCount(layers: 7..<10))
        let twin = model.copy()
        twin.setHeadParameters(head.map { $0 + 1 }, from: k)
        #expect(model.headParameters(from: k) == head)
        #expect(twin.headParameters(from: k) == head.map { $0 + 1 })
        #expect(
            Array(twin.parameters[twin.parameterRange(layers: 0..<7)])
                == Array(model.parameters[model.parameterRange(layers: 0..<7)]))
    }

    @Test func headOnlyModelMatchesTheHeadOfTheFullModel() {
        let full = Model(architecture: .smallCNN(), seed: 6)
        let k = 7
        let head = Model(
            architecture: full.architecture.slice(layers: k..<full.layerCount),
            parameters: full.headParameters(from: FreezePoint(k)))
        let features = SyntheticData.blobs(count: 4, features: 784, classes: 2, seed: 1).x
        #expect(head.forward(features) == full.forward(features, layers: k..<full.layerCount, training: false))
    }

    @Test func predictChunksLargeBatchesConsistently() {
        let model = Model(architecture: .mlpHead(inputs: 4, hidden: 8, depth: 1, classes: 3), seed: 7)
        let data = SyntheticData.blobs(count: 600, features: 4, classes: 3, seed: 2)
        let whole = Classification.argmax(model.forward(data.x))
        #expect(model.predict(data.x) == whole)
    }

    @Test func parameterSlicesAreNamedAndTileTheBuffer() {
        let model = Model(architecture: .fedAvgCNN(), seed: 0)
        let names = model.parameterBuffer.slices.map(\.name)
        #expect(names.first == "layer0.conv2d.weight")
        #expect(names.last == "layer9.dense.bias")
        #expect(model.parameterBuffer.slice(named: "layer7.dense.weight")?.shape == [512, 3136])
        #expect(model.parameterBuffer.slices.last?.range.upperBound == model.parameterBuffer.count)
    }
}
