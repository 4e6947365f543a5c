import Logging
import ThawData
import ThawNN

/// Personalises a general model for one user: freeze at k, compute the backbone activations of the
/// user's adaptation samples once (as the phone would), train only the head on them, and compare
/// held-out accuracy before and after.
public struct PersonalizeJob: Sendable {
    public var freezePoint: FreezePoint
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: OptimizerConfig
    public var splitter: UserSplitter
    public var seed: UInt64
    /// Replace the head with a fresh MLP (`hidden` units, `depth` hidden layers) instead of
    /// fine-tuning the general model's head. Needs a flat activation at the freeze point.
    public var newHead: (hidden: Int, depth: Int)?

    public init(freezePoint: FreezePoint, epochs: Int = 20, batchSize: Int = 16,
                optimizer: OptimizerConfig = .sgd(learningRate: 0.01, momentum: 0.9, weightDecay: 0),
                splitter: UserSplitter = UserSplitter(), seed: UInt64 = 1, newHead: (hidden: Int, depth: Int)? = nil) {
        self.freezePoint = freezePoint
        self.epochs = epochs
        self.batchSize = batchSize
        self.optimizer = optimizer
        self.splitter = splitter
        self.seed = seed
        self.newHead = newHead
    }

    public struct Result: Sendable, Equatable {
        public let writer: UInt16
        public let adaptationSamples: Int
        public let evaluationSamples: Int
        /// Held-out accuracy of the general model.
        public let before: Double
        /// Held-out accuracy with the personal head.
        public let after: Double
        public var gain: Double { after - before }
    }

    /// Checks that the freeze point (and a new head, if any) fit `architecture`.
    public func validate(for architecture: ModelArchitecture) throws(LearningError) {
        guard freezePoint.index < architecture.layerCount else {
            throw LearningError(.invalidFreezePoint, "freeze point \(freezePoint.index) leaves no head (L = \(architecture.layerCount))")
        }
        if let head = newHead {
            guard head.hidden >= 1, head.depth >= 0 else {
                throw LearningError(.invalidHead, "head width must be >= 1 and depth >= 0")
            }
            guard architecture.activationShape(at: freezePoint.index).count == 1 else {
                throw LearningError(.invalidHead, "a new MLP head needs a flat activation at k=\(freezePoint.index) " +
                                    "(shape \(architecture.activationShape(at: freezePoint.index))); use the flatten output")
            }
        }
    }

    /// The model whose head will be trained: a copy of `general`, or the general backbone with a new MLP head.
    public func startingModel(from general: Model) -> Model {
        guard let head = newHead else { return general.copy() }
        let k = freezePoint.index
        let arch = general.architecture
        let features = Tensor.elementCount(arch.activationShape(at: k))
        let mlp = ModelArchitecture.mlpHead(inputs: features, hidden: head.hidden, depth: head.depth, classes: arch.outputCount)
        let grown = ModelArchitecture(inputShape: arch.inputShape, layers: Array(arch.layers[..<k]) + mlp.layers)
        let model = Model(architecture: grown, seed: seed)
        let backbone = general.parameterRange(layers: 0..<k)
        model.parameters.replaceSubrange(backbone, with: general.parameters[backbone])
        return model
    }

    /// Personalises for `writer`, one of the writers of `samples` (normally the test split).
    public func run(general: Model, samples: HandwritingSamples, writer: UInt16) -> Result {
        let split = splitter.split(samples, writer: writer)
        let k = freezePoint
        // The phone's work: the backbone runs once per sample; only activations at k travel.
        let adaptInputs = Batching.backboneActivations(general, input: Batching.images(samples, split.adaptation), freezePoint: k)
        let evalInputs = Batching.backboneActivations(general, input: Batching.images(samples, split.evaluation), freezePoint: k)
        let adaptLabels = samples.intLabels(split.adaptation)
        let evalLabels = samples.intLabels(split.evaluation)
        let before = general.evaluate(evalInputs, labels: evalLabels, from: k).accuracy
        let model = startingModel(from: general)
        var optimizer = optimizer.makeOptimizer()
        let trainer = MinibatchTrainer(epochs: epochs, batchSize: batchSize, seed: seed ^ UInt64(writer))
        trainer.train(model, inputs: adaptInputs, labels: adaptLabels, freezePoint: k, optimizer: &optimizer)
        let after = model.evaluate(evalInputs, labels: evalLabels, from: k).accuracy
        return Result(writer: writer, adaptationSamples: split.adaptation.count, evaluationSamples: split.evaluation.count,
                      before: before, after: after)
    }

    /// Personalises for every writer of `samples`, ascending by id.
    public func runAll(general: Model, samples: HandwritingSamples, logger: Logger = Logger(label: "thaw.learning.personalize")) -> [Result] {
        samples.writerIDs.map { writer in
            let r = run(general: general, samples: samples, writer: writer)
            logger.debug("personalised", metadata: ["user": "\(writer)", "before": "\(r.before)", "after": "\(r.after)"])
            return r
        }
    }
}

extension Array where Element == PersonalizeJob.Result {
    /// Mean of the per-user gains (after − before).
    public var meanGain: Double { isEmpty ? 0 : map(\.gain).reduce(0, +) / Double(count) }
    public var meanBefore: Double { isEmpty ? 0 : map(\.before).reduce(0, +) / Double(count) }
    public var meanAfter: Double { isEmpty ? 0 : map(\.after).reduce(0, +) / Double(count) }
}
