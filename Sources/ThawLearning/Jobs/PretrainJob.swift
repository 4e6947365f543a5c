import Logging
import ThawData
import ThawNN

/// Trains the general model on the training writers and measures it on the test writers (the users).
///
/// The recipe: minibatch SGD with momentum, an optional cosine learning-rate schedule over all steps,
/// optional L2 weight decay and optional random-shift augmentation of the training images.
public struct PretrainJob: Sendable {
    public var architecture: ModelArchitecture
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Float
    public var momentum: Float
    public var seed: UInt64
    /// Train on at most this many training samples (a seeded random subset); nil = all.
    public var trainingLimit: Int?
    public var schedule: LearningRateSchedule
    public var weightDecay: Float
    /// Random shift of each training image by up to this many pixels (0: none).
    public var shift: Int
    /// Start from these parameters (all of the architecture's, in ``Model/parameters`` order) instead of
    /// a seeded initialisation: continue a run, or with 0 epochs just evaluate them.
    public var initialParameters: [Float]?

    public init(architecture: ModelArchitecture = .fedAvgCNN(classes: 10), epochs: Int = 2, batchSize: Int = 64,
                learningRate: Float = 0.05, momentum: Float = 0.9, seed: UInt64 = 1, trainingLimit: Int? = nil,
                schedule: LearningRateSchedule = .constant, weightDecay: Float = 0, shift: Int = 0) {
        self.architecture = architecture
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.momentum = momentum
        self.seed = seed
        self.trainingLimit = trainingLimit
        self.schedule = schedule
        self.weightDecay = weightDecay
        self.shift = shift
    }

    public struct Result {
        public let model: Model
        /// Accuracy on every test sample, overall and per test writer.
        public let test: AccuracyReport
        /// Mean training loss per epoch.
        public let epochLosses: [Float]
        public let trainingSamples: Int
    }

    /// Trains and evaluates on every test writer. `afterEpoch(epoch, loss, model)` runs after each epoch
    /// (for progress, a per-epoch test measurement or a checkpoint).
    public func run(on dataset: HandwritingDataset, logger: Logger = Logger(label: "thaw.learning.pretrain"),
                    afterEpoch: (Int, Float, Model) -> Void = { _, _, _ in }) -> Result {
        let trained = train(on: dataset.train, logger: logger, afterEpoch: afterEpoch)
        return Result(model: trained.model, test: AccuracyReport.evaluate(trained.model, on: dataset.test),
                      epochLosses: trained.epochLosses, trainingSamples: trained.trainingSamples)
    }

    /// Trains only (no evaluation pass), on `samples`.
    public func train(on samples: HandwritingSamples, logger: Logger = Logger(label: "thaw.learning.pretrain"),
                      afterEpoch: (Int, Float, Model) -> Void = { _, _, _ in })
        -> (model: Model, epochLosses: [Float], trainingSamples: Int)
    {
        let model = Model(architecture: architecture, seed: seed)
        if let initialParameters { model.parameters = initialParameters }
        var indices = Array(0..<samples.count)
        if let limit = trainingLimit, limit < indices.count {
            var generator = SeededGenerator.derived(seed: seed, stream: 0x5355_4253)
            indices.shuffle(using: &generator)
            indices = Array(indices[..<limit]).sorted()
        }
        let inputs = Batching.images(samples, indices)
        let labels = samples.intLabels(indices)
        var optimizer = SGD(learningRate: learningRate, momentum: momentum, weightDecay: weightDecay)
        guard !indices.isEmpty else { return (model, [], 0) }
        var order = Array(0..<indices.count)
        var shuffle = SeededGenerator(seed: seed)
        var augment = SeededGenerator.derived(seed: seed, stream: 0x5348_4654)
        let augmentation = RandomShift(maximum: shift)
        let stepsPerEpoch = (order.count + batchSize - 1) / batchSize
        let totalSteps = stepsPerEpoch * epochs
        var step = 0
        var losses: [Float] = []
        for epoch in 0..<epochs {
            order.shuffle(using: &shuffle)
            var total = 0.0
            var start = 0
            while start < order.count {
                let batch = Array(order[start..<min(start + batchSize, order.count)])
                optimizer.learningRate = schedule.rate(base: learningRate, step: step, total: totalSteps)
                let input = augmentation.apply(inputs.gatheringRows(batch), using: &augment)
                let loss = model.trainStep(input: input, labels: batch.map { labels[$0] }, freezePoint: FreezePoint(0),
                                           optimizer: &optimizer)
                total += Double(loss) * Double(batch.count)
                start += batchSize
                step += 1
            }
            let mean = Float(total / Double(order.count))
            losses.append(mean)
            logger.info("epoch done", metadata: ["epoch": "\(epoch + 1)", "loss": "\(mean)",
                                                 "learning.rate": "\(optimizer.learningRate)"])
            afterEpoch(epoch, mean, model)
        }
        return (model, losses, indices.count)
    }
}
