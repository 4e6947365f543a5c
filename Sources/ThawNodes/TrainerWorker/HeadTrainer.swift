import ThawNN

/// Trains one user's head from stored activations: the compute a worker does per commit.
///
/// The head starts from the user's latest committed head, or from the base model's own head when the
/// user has none, and runs `recipe.epochs` passes of shuffled minibatches over every stored sample.
struct HeadTrainer {
    let model: Model
    let recipe: TrainingRecipe

    struct Result {
        var parameters: [Float]
        var loss: Float
        var steps: Int
    }

    func train(
        start: [Float]?, activations: Tensor, labels: [Int], freezePoint: FreezePoint, seed: UInt64
    ) -> Result {
        let base = model.headParameters(from: freezePoint)
        defer { model.setHeadParameters(base, from: freezePoint) }
        if let start { model.setHeadParameters(start, from: freezePoint) }
        var optimizer = recipe.optimizer.makeOptimizer()
        var generator = SeededGenerator(seed: seed)
        let count = labels.count
        var order = Array(0..<count)
        var lossSum: Float = 0
        var steps = 0
        for _ in 0..<max(recipe.epochs, 1) {
            order.shuffle(using: &generator)
            var offset = 0
            while offset < count {
                let indices = Array(order[offset..<min(offset + recipe.batchSize, count)])
                let loss = model.trainStep(
                    input: activations.gatheringRows(indices), labels: indices.map { labels[$0] },
                    freezePoint: freezePoint, optimizer: &optimizer)
                lossSum += loss
                steps += 1
                offset += recipe.batchSize
            }
        }
        return Result(
            parameters: model.headParameters(from: freezePoint), loss: steps > 0 ? lossSum / Float(steps) : 0,
            steps: steps)
    }
}
