import Testing
import ThawData
import ThawLearning
import ThawNN

/// End to end on the shipped data with a fixed seed: a briefly pretrained small CNN, then a
/// personal head per user above the flatten output.
@Suite struct PersonalizationTests {
    @Test func personalizationRaisesHeldOutAccuracyForMostUsers() throws {
        let data = try HandwritingDataset.shipped()
        // Deliberately weak general model (1 epoch on 2000 images) so users have room to improve.
        let general = PretrainJob(architecture: .smallCNN(classes: 10), epochs: 1, batchSize: 32,
                                  learningRate: 0.05, seed: 3, trainingLimit: 2000).train(on: data.train).model
        let job = PersonalizeJob(freezePoint: FreezePoint(7), epochs: 15, batchSize: 16,
                                 optimizer: .sgd(learningRate: 0.01, momentum: 0.9, weightDecay: 0),
                                 splitter: UserSplitter(adaptationFraction: 0.5, seed: 3), seed: 3)
        let users = Array(data.userIDs.prefix(12))
        let results = users.map { job.run(general: general, samples: data.test, writer: $0) }
        let improved = results.filter { $0.gain > 0 }.count
        let worse = results.filter { $0.gain < 0 }.count
        #expect(results.meanGain > 0.01, "mean gain \(results.meanGain)")
        #expect(improved > worse, "improved \(improved), worse \(worse)")
        #expect(improved * 2 > results.count, "improved \(improved) of \(results.count)")
    }

    @Test func generalModelIsUntouchedByPersonalization() throws {
        let data = try HandwritingDataset.shipped()
        let general = Model(architecture: .smallCNN(classes: 10), seed: 5)
        let before = general.parameters
        let result = PersonalizeJob(freezePoint: FreezePoint(7), epochs: 1)
            .run(general: general, samples: data.test, writer: data.userIDs[0])
        #expect(general.parameters == before)
        #expect(result.adaptationSamples + result.evaluationSamples > 10)
    }

    @Test func grownHeadKeepsTheBackboneAndTrains() throws {
        let data = try HandwritingDataset.shipped()
        let general = Model(architecture: .smallCNN(classes: 10), seed: 5)
        let job = PersonalizeJob(freezePoint: FreezePoint(7), epochs: 2, newHead: (hidden: 32, depth: 2))
        try job.validate(for: general.architecture)
        let grown = job.startingModel(from: general)
        #expect(grown.layerCount == 7 + 5)
        let backbone = general.parameterRange(layers: 0..<7)
        #expect(Array(grown.parameters[backbone]) == Array(general.parameters[backbone]))
        let result = job.run(general: general, samples: data.test, writer: data.userIDs[1])
        #expect(result.evaluationSamples > 0)
    }

    @Test func grownHeadNeedsAFlatActivation() {
        let job = PersonalizeJob(freezePoint: FreezePoint(3), newHead: (hidden: 32, depth: 1))
        let error = #expect(throws: LearningError.self) { try job.validate(for: .smallCNN(classes: 10)) }
        #expect(error?.code == .invalidHead)
        #expect(throws: LearningError.self) { try PersonalizeJob(freezePoint: FreezePoint(10)).validate(for: .smallCNN(classes: 10)) }
    }
}
