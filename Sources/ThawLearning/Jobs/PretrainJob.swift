import Logging
import ThawData
import ThawNN

/// Trains the general model on the training writers and measures it on the test writers (the users).
public struct PretrainJob: Sendable {
    public var architecture: ModelArchitecture
    public var epochs: Int
    public var batchSize: Int
    public var learningRate: Float
    public var momentum: Float
    public var seed: UInt64
    /// Train on at most this many training samples (a seeded random subset); nil = all.
    public var trainingLimit: Int?

    public init(architecture: ModelArchitecture = .fedAvgCNN(classes: 10), epochs: Int = 2, batchSize: Int = 64,
                learningRate: Float = 0.05, momentum: Float = 0.9, seed: UInt64 = 1, trainingLimit: Int? = nil) {
        self.architecture = architecture
        self.epochs = epochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.momentum = momentum
        self.seed = seed
        self.trainingLimit = trainingLimit
    }

    public struct Result {
        public let model: Model
        /// Accuracy on every test sample, overall and per test writer.
        public let test: AccuracyReport
        /// Mean training loss per epoch.
        public let epochLosses: [Float]
        public let trainingSamples: Int
    }

    /// Trains and evaluates on every test writer.
    public func run(on dataset: HandwritingDataset, logger: Logger = Logger(label: "thaw.learning.pretrain")) -> Result {
        let trained = train(on: dataset.train, logger: logger)
        return Result(model: trained.model, test: AccuracyReport.evaluate(trained.model, on: dataset.test),
                      epochLosses: trained.epochLosses, trainingSamples: trained.trainingSamples)
    }

    /// Trains only (no evaluation pass), on `samples`.
    public func train(on samples: HandwritingSamples, logger: Logger = Logger(label: "thaw.learning.pretrain"))
        -> (model: Model, epochLosses: [Float], trainingSamples: Int)
    {
        let model = Model(architecture: architecture, seed: seed)
        var indices = Array(0..<samples.count)
        if let limit = trainingLimit, limit < indices.count {
            var generator = SeededGenerator.derived(seed: seed, stream: 0x5355_4253)
            indices.shuffle(using: &generator)
            indices = Array(indices[..<limit]).sorted()
        }
        let inputs = Batching.images(samples, indices)
        let labels = samples.intLabels(indices)
        var optimizer = SGD(learningRate: learningRate, momentum: momentum)
        let trainer = MinibatchTrainer(epochs: epochs, batchSize: batchSize, seed: seed)
        let losses = trainer.train(model, inputs: inputs, labels: labels, freezePoint: FreezePoint(0),
                                   optimizer: &optimizer) { epoch, loss in
            logger.info("epoch done", metadata: ["epoch": "\(epoch + 1)", "loss": "\(loss)"])
        }
        return (model, losses, indices.count)
    }
}
