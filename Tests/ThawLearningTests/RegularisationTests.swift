import Testing
import ThawData
import ThawLearning
import ThawNN

@Suite struct RegularisationTests {
    /// With a zero data gradient, L2-SP alone moves every parameter toward its anchor by lr·λ·(p − anchor).
    @Test func l2spPullsTheParametersTowardTheAnchor() {
        var optimizer = AnchoredOptimizer(base: SGD(learningRate: 0.5), anchor: [1, 1, 1], strength: 0.2)
        var parameters: [Float] = [9, 3, 1, -1, 9]
        optimizer.step(parameters: &parameters, gradients: [0, 0, 0], range: 1..<4)
        let step: Float = 0.5 * 0.2 * 2
        let expected: [Float] = [9, 3 - step, 1, -1 + step, 9]
        #expect(parameters == expected)
        var plain = AnchoredOptimizer(base: SGD(learningRate: 0.5), anchor: [1, 1, 1], strength: 0)
        var same: [Float] = [3, 1, -1]
        plain.step(parameters: &same, gradients: [1, 1, 1], range: 0..<3)
        #expect(same == [2.5, 0.5, -1.5])
    }

    /// A head trained with a strong L2-SP pull ends closer to the general head than one trained without.
    @Test func anAnchoredHeadStaysCloserToTheGeneralHead() {
        let model = Model(architecture: .mlpHead(inputs: 6, hidden: 8, depth: 1, classes: 3), seed: 2)
        let anchor = model.parameters
        var generator = SeededGenerator(seed: 4)
        let inputs = Tensor(shape: [12, 6], scalars: (0..<72).map { _ in Float.random(in: -1...1, using: &generator) })
        let labels = (0..<12).map { $0 % 3 }
        func distance(strength: Float) -> Float {
            let copy = model.copy()
            var optimizer = AnchoredOptimizer(base: SGD(learningRate: 0.1, momentum: 0.9), anchor: anchor, strength: strength)
            MinibatchTrainer(epochs: 30, batchSize: 4, seed: 1).train(
                copy, inputs: inputs, labels: labels, freezePoint: FreezePoint(0), optimizer: &optimizer)
            return zip(copy.parameters, anchor).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        }
        #expect(distance(strength: 1) < 0.5 * distance(strength: 0))
    }

    @Test func cosineScheduleRunsFromTheBaseRateDownToTheFloor() {
        let schedule = LearningRateSchedule.cosine(floor: 0.01)
        #expect(abs(schedule.rate(base: 0.1, step: 0, total: 101) - 0.1) < 1e-7)
        #expect(abs(schedule.rate(base: 0.1, step: 50, total: 101) - 0.0505) < 1e-6)
        #expect(abs(schedule.rate(base: 0.1, step: 100, total: 101) - 0.001) < 1e-7)
        #expect(LearningRateSchedule.constant.rate(base: 0.1, step: 7, total: 9) == 0.1)
    }

    @Test func randomShiftMovesEachImageByAtMostTheMaximumAndIsSeeded() {
        // One bright pixel in the middle of a 7×7 image: after a shift it is somewhere within ±2 of it.
        var scalars = [Float](repeating: 0, count: 3 * 49)
        for i in 0..<3 { scalars[i * 49 + 3 * 7 + 3] = 1 }
        let batch = Tensor(shape: [3, 1, 7, 7], scalars: scalars)
        var a = SeededGenerator(seed: 9)
        var b = SeededGenerator(seed: 9)
        let shifted = RandomShift(maximum: 2).apply(batch, using: &a)
        #expect(shifted.scalars == RandomShift(maximum: 2).apply(batch, using: &b).scalars)
        for i in 0..<3 {
            let image = Array(shifted.scalars[(i * 49)..<((i + 1) * 49)])
            #expect(image.reduce(0, +) == 1)
            let position = image.firstIndex(of: 1)!
            #expect(abs(position / 7 - 3) <= 2 && abs(position % 7 - 3) <= 2)
        }
        var c = SeededGenerator(seed: 9)
        #expect(RandomShift(maximum: 0).apply(batch, using: &c).scalars == scalars)
    }

    @Test func nearestNeighboursVoteAndMixWithTheGeneralModel() {
        let store = Tensor(shape: [4, 2], scalars: [0, 0, 0.1, 0, 5, 5, 5, 5.1])
        let knn = NearestNeighbours(k: 2, store: store, labels: [1, 1, 2, 2])
        let queries = Tensor(shape: [2, 2], scalars: [0.05, 0.02, 4.9, 5])
        #expect(knn.probabilities(queries, classes: 3) == [[0, 1, 0], [0, 0, 1]])
        // The general model is confident in class 0 for the first query and unsure for the second.
        let logits = Tensor(shape: [2, 3], scalars: [9, 0, 0, 0.1, 0, 0])
        #expect(knn.mixedPredictions(queries, generalLogits: logits, weight: 0.3) == [0, 2])
        #expect(knn.mixedPredictions(queries, generalLogits: logits, weight: 1) == [1, 2])
        let empty = NearestNeighbours(k: 3, store: Tensor(shape: [0, 2], scalars: []), labels: [])
        #expect(empty.probabilities(queries, classes: 3) == [[0, 0, 0], [0, 0, 0]])
        // No queries (a phone without validation samples) is no answer, not a dimension mismatch.
        #expect(knn.probabilities(Tensor(shape: [0, 2], scalars: []), classes: 3).isEmpty)
        // The mixture's probabilities are what the predictions are the argmax of.
        let mixed = knn.mixedProbabilities(queries, generalLogits: logits, weight: 0.3)
        #expect(mixed.allSatisfy { abs($0.reduce(0, +) - 1) < 1e-9 })
        #expect(mixed.map { row in row.indices.max { row[$0] < row[$1] }! } == [0, 2])
    }

    @Test func headInterpolationMovesPartOfTheWayFromTheAnchor() {
        let anchor: [Float] = [0, 1, -2]
        let trained: [Float] = [2, 1, 2]
        #expect(HeadInterpolation.interpolate(anchor: anchor, trained: trained, weight: 0.5) == [1, 1, 0])
        #expect(HeadInterpolation.interpolate(anchor: anchor, trained: trained, weight: 1) == trained)
        #expect(HeadInterpolation.interpolate(anchor: anchor, trained: trained, weight: 0) == anchor)
    }

    /// The recipe's options do not change a plain run: constant rate, no shift, no decay give the same
    /// model as before they existed (the same shuffle stream as MinibatchTrainer).
    @Test func plainPretrainingMatchesTheMinibatchTrainer() throws {
        let data = try HandwritingDataset.shipped()
        let job = PretrainJob(architecture: .smallCNN(classes: 10), epochs: 1, batchSize: 32, learningRate: 0.05,
                              seed: 3, trainingLimit: 300)
        let trained = job.train(on: data.train).model
        let reference = Model(architecture: .smallCNN(classes: 10), seed: 3)
        var indices = Array(0..<data.train.count)
        var generator = SeededGenerator.derived(seed: 3, stream: 0x5355_4253)
        indices.shuffle(using: &generator)
        indices = Array(indices[..<300]).sorted()
        var sgd = SGD(learningRate: 0.05, momentum: 0.9)
        MinibatchTrainer(epochs: 1, batchSize: 32, seed: 3).train(
            reference, inputs: Batching.images(data.train, indices), labels: data.train.intLabels(indices),
            freezePoint: FreezePoint(0), optimizer: &sgd)
        // Equal up to the order of float sums: tests running beside this one in the same process may
        // change the process-wide BLAS thread count, and with it how a convolution splits its batch.
        #expect(trained.parameters.count == reference.parameters.count)
        let largest = zip(trained.parameters, reference.parameters).map { abs($0 - $1) }.max() ?? 0
        #expect(largest <= 1e-4, "largest difference \(largest)")
    }
}
