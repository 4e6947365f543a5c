import Testing
import ThawData
import ThawLearning
import ThawNN

@Suite struct BatchingTests {
    @Test func imagesBecomeNCHWFloatsInUnitRange() {
        let samples = HandwritingSamples(rows: 2, columns: 2, pixels: [0, 255, 51, 102, 1, 2, 3, 4],
                                         labels: [3, 4], writers: [9, 9])
        let t = Batching.images(samples, [0])
        #expect(t.shape == [1, 1, 2, 2])
        #expect(zip(t.scalars, [0, 1, 0.2, 0.4] as [Float]).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    @Test func trainerShuffleIsSeeded() {
        let arch = ModelArchitecture.mlpHead(inputs: 4, hidden: 8, depth: 1, classes: 3)
        func run() -> [Float] {
            let model = Model(architecture: arch, seed: 1)
            var generator = SeededGenerator(seed: 9)
            let x = Tensor(shape: [12, 4], scalars: (0..<48).map { _ in generator.nextUnitFloat() })
            var sgd = SGD(learningRate: 0.1)
            MinibatchTrainer(epochs: 3, batchSize: 5, seed: 4)
                .train(model, inputs: x, labels: (0..<12).map { $0 % 3 }, freezePoint: FreezePoint(0), optimizer: &sgd)
            return model.parameters
        }
        #expect(run() == run())
    }

    @Test func accuracyReportCountsPerUser() {
        let model = Model(architecture: .smallCNN(classes: 10), seed: 1)
        let samples = HandwritingSamples(rows: 28, columns: 28, pixels: [UInt8](repeating: 0, count: 3 * 784),
                                         labels: [0, 1, 2], writers: [1, 1, 2])
        let report = AccuracyReport.evaluate(model, on: samples)
        #expect(report.sampleCount == 3)
        #expect(Set(report.perUser.keys) == [1, 2])
    }
}
