import ThawData
import ThawLearning
import ThawNN
import ThawNodes
import ThawSimulation

/// `thaw bench incremental`: held-out accuracy of a worker's incremental rounds against full retraining.
///
/// Each writer's adaptation samples arrive as batches, in order. After every batch a head is trained
/// from the previous one with the workers' recipe (SGD, learning rate 0.05, no momentum, `epochs`,
/// minibatch 32), in one of three ways:
/// - **full**: on every sample so far (what a worker did before: the cost grows with the history);
/// - **incremental**: on the batch's samples plus a seeded replay of older ones, at most
///   `replayFraction` × the new samples and at most `replaySamples` (what a worker does now; the replay
///   pool is the whole history here, the worker keeps a reservoir of `historyRows`);
/// - **new only**: on the batch's samples alone (no replay), for reference.
///
/// The final head of each writer is evaluated on that writer's evaluation samples (never trained on).
public struct IncrementalAccuracy {
    public struct Settings: Sendable {
        public var writers = 24
        public var batchSize = 8
        public var epochs = 2
        public var freezePoint = 7
        public var replayFraction = 0.5
        public var replaySamples = 256
        public var pretrainEpochs = 1
        public var pretrainSamples: Int? = 20_000

        public init() {}
    }

    public struct Strategy: Codable, Sendable {
        public var name: String
        /// Mean over writers of the final head's held-out accuracy.
        public var accuracy: Double
        /// Per-writer final accuracies, in writer order.
        public var perWriter: [Double]
        /// Sample passes spent (samples trained × epochs), summed over writers and rounds.
        public var samplePasses: Int
        /// Sample passes of each writer's last round (the per-round cost at the end of the history).
        public var lastRoundPasses: Double
    }

    public struct Results: Codable, Sendable {
        public var writers: [UInt16]
        public var baseAccuracy: Double
        public var batchSize: Int
        public var epochs: Int
        public var freezePoint: Int
        public var meanAdaptationSamples: Double
        public var strategies: [Strategy]
    }

    public let settings: Settings
    public let progress: @Sendable (String) -> Void

    public init(settings: Settings, progress: @escaping @Sendable (String) -> Void) {
        self.settings = settings
        self.progress = progress
    }

    public func run() throws -> Results {
        BLAS.setThreadCount(1)
        let dataset = try HandwritingDataset.shipped()
        let k = FreezePoint(settings.freezePoint)
        progress("pretraining the base model")
        let base = PretrainJob(
            architecture: .fedAvgCNN(), epochs: settings.pretrainEpochs, batchSize: 32,
            trainingLimit: settings.pretrainSamples
        ).train(on: dataset.train).model
        let writers = Array(dataset.userIDs.prefix(settings.writers))
        let experiment = PersonalizationExperiment(
            configuration: .init(
                freezePoint: k, users: writers, fedAvg: FedAvgSettings()))
        let users = experiment.prepare(base: base, samples: dataset.test)
        var baseAccuracy = 0.0
        for user in users { baseAccuracy += base.evaluate(user.evalInputs, labels: user.evalLabels, from: k).accuracy }
        baseAccuracy /= Double(max(users.count, 1))
        var strategies: [Strategy] = []
        for (name, mode) in [("full retraining", Mode.full), ("incremental (new + replay)", .incremental), ("new rows only", .newOnly)] {
            progress("strategy: \(name)")
            var accuracies: [Double] = []
            var passes = 0
            var lastRound = 0.0
            for user in users {
                let outcome = train(user, base: base, k: k, mode: mode)
                accuracies.append(outcome.accuracy)
                passes += outcome.passes
                lastRound += Double(outcome.lastRound)
            }
            strategies.append(
                Strategy(
                    name: name, accuracy: accuracies.reduce(0, +) / Double(max(accuracies.count, 1)), perWriter: accuracies,
                    samplePasses: passes, lastRoundPasses: lastRound / Double(max(users.count, 1))))
        }
        return Results(
            writers: writers, baseAccuracy: baseAccuracy, batchSize: settings.batchSize, epochs: settings.epochs,
            freezePoint: settings.freezePoint,
            meanAdaptationSamples: Double(users.reduce(0) { $0 + $1.labels.count }) / Double(max(users.count, 1)),
            strategies: strategies)
    }

    enum Mode { case full, incremental, newOnly }

    private func train(_ user: PersonalizationExperiment.UserData, base: Model, k: FreezePoint, mode: Mode)
        -> (accuracy: Double, passes: Int, lastRound: Int)
    {
        let model = base.copy()
        let recipe = TrainingRecipe(
            optimizer: .sgd(learningRate: 0.05, momentum: 0, weightDecay: 0), epochs: settings.epochs, batchSize: 32)
        let count = user.labels.count
        var head: [Float]? = nil
        var passes = 0
        var lastRound = 0
        var round = 0
        var start = 0
        while start < count {
            let end = min(start + settings.batchSize, count)
            var rows = Array(start..<end)
            switch mode {
            case .full:
                rows = Array(0..<end)
            case .incremental:
                var generator = SeededGenerator(seed: UInt64(user.writer) &* 0x9E37_79B9 &+ UInt64(round))
                let budget = min(settings.replaySamples, Int((Double(rows.count) * settings.replayFraction).rounded(.up)))
                rows += Array(0..<start).shuffled(using: &generator).prefix(budget)
            case .newOnly:
                break
            }
            let inputs = Self.gather(user.inputs, rows)
            let result = HeadTrainer(model: model, recipe: recipe).train(
                start: head, activations: inputs, labels: rows.map { user.labels[$0] }, freezePoint: k,
                seed: UInt64(user.writer) &+ UInt64(round))
            head = result.parameters
            passes += rows.count * settings.epochs
            lastRound = rows.count * settings.epochs
            round += 1
            start = end
        }
        if let head { model.setHeadParameters(head, from: k) }
        return (model.evaluate(user.evalInputs, labels: user.evalLabels, from: k).accuracy, passes, lastRound)
    }

    static func gather(_ tensor: Tensor, _ rows: [Int]) -> Tensor {
        let width = tensor.scalars.count / max(tensor.batchSize, 1)
        var scalars: [Float] = []
        scalars.reserveCapacity(rows.count * width)
        for row in rows { scalars += tensor.scalars[(row * width)..<((row + 1) * width)] }
        return Tensor(shape: [rows.count] + Array(tensor.shape.dropFirst()), scalars: scalars)
    }
}
