import ThawLearning
import ThawNN

/// ClientUpdate(k, w) of FedAvg: E epochs of minibatch SGD (batch B) on one client's samples, starting from
/// the global weights, through ThawLearning's ``MinibatchTrainer`` (the same loop Thaw's workers use).
///
/// What is trained is the head `[k, L)` of a split model; the client's inputs are its backbone activations
/// at k, computed once on the device (the backbone is frozen, so recomputing them every epoch would only
/// waste the phone's energy). This is the strongest FedAvg baseline for the split model, and the same
/// work division a Thaw phone has up to the freeze point.
public struct FedAvgLocalUpdate {
    public var settings: FedAvgSettings

    public init(settings: FedAvgSettings) { self.settings = settings }

    /// What one local update produced.
    public struct Outcome: Sendable {
        /// The trained head weights.
        public var weights: [Float]
        /// nₖ, the samples trained on.
        public var samples: Int
        /// FLOPs the update executed (forward, backward, optimiser), from the model's counter.
        public var flops: FLOPCount
        /// Mean training loss of the last epoch.
        public var loss: Float
    }

    /// Trains `model`'s head from `globalWeights` on `inputs` (activations at `freezePoint`) and `labels`.
    ///
    /// `model`'s head is overwritten; its backbone is untouched. Each (client, round) pair gets its own shuffle.
    /// - Precondition: `globalWeights` has the head's size and `labels.count == inputs.batchSize > 0`.
    public func run(
        model: Model, freezePoint: FreezePoint, globalWeights: [Float], inputs: Tensor, labels: [Int],
        clientSeed: UInt64, round: Int
    ) -> Outcome {
        model.setHeadParameters(globalWeights, from: freezePoint)
        var optimizer = SGD(learningRate: settings.learningRate)
        let trainer = MinibatchTrainer(
            epochs: settings.localEpochs, batchSize: settings.batchSize,
            seed: settings.seed ^ clientSeed &* 31 &+ UInt64(round))
        let before = model.executedFLOPs
        let losses = trainer.train(
            model, inputs: inputs, labels: labels, freezePoint: freezePoint, optimizer: &optimizer)
        return Outcome(
            weights: model.headParameters(from: freezePoint), samples: labels.count,
            flops: model.executedFLOPs - before, loss: losses.last ?? 0)
    }
}
