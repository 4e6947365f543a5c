import ThawNN

/// Epochs of minibatch SGD over layers `[k, L)` of a model, with a seeded shuffle per epoch.
///
/// The inputs are activations at the freeze point `k` (raw images when `k == 0`), so the same loop
/// pretrains a whole model and trains a personal head on cached backbone features.
public struct MinibatchTrainer: Sendable {
    public var epochs: Int
    public var batchSize: Int
    public var seed: UInt64

    public init(epochs: Int, batchSize: Int, seed: UInt64) {
        precondition(epochs >= 0 && batchSize >= 1, "epochs must be >= 0 and batchSize >= 1")
        self.epochs = epochs
        self.batchSize = batchSize
        self.seed = seed
    }

    /// Trains and returns the mean loss of each epoch. `onEpoch(epoch, meanLoss)` is called after each.
    @discardableResult
    public func train(
        _ model: Model, inputs: Tensor, labels: [Int], freezePoint: FreezePoint,
        optimizer: inout some Optimizer, onEpoch: (Int, Float) -> Void = { _, _ in }
    ) -> [Float] {
        precondition(labels.count == inputs.batchSize, "\(labels.count) labels for \(inputs.batchSize) samples")
        guard inputs.batchSize > 0 else { return [] }
        var generator = SeededGenerator(seed: seed)
        var order = Array(0..<inputs.batchSize)
        var losses: [Float] = []
        for epoch in 0..<epochs {
            order.shuffle(using: &generator)
            var total = 0.0
            var start = 0
            while start < order.count {
                let batch = Array(order[start..<min(start + batchSize, order.count)])
                let loss = model.trainStep(
                    input: inputs.gatheringRows(batch), labels: batch.map { labels[$0] },
                    freezePoint: freezePoint, optimizer: &optimizer)
                total += Double(loss) * Double(batch.count)
                start += batchSize
            }
            let mean = Float(total / Double(order.count))
            losses.append(mean)
            onEpoch(epoch, mean)
        }
        return losses
    }
}
