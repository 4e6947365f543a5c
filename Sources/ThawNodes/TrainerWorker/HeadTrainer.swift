import ThawLearning
import ThawNN

/// Trains one user's head from stored activations: the compute a worker does per commit.
///
/// The head starts from the user's latest committed head, or from the base model's own head when the
/// user has none, and runs `recipe.epochs` passes of shuffled minibatches over the samples it is given
/// (a round's new rows plus replayed older ones; ThawLearning's ``MinibatchTrainer``, the same loop
/// `thaw personalize` uses). The head it returns is the trained one interpolated back toward the base
/// model's head by `recipe.headInterpolation` (0.5 by default: docs/LEARNING.md). `thaw bench system` times it directly as the engine's rate.
package struct HeadTrainer {
    package let model: Model
    package let recipe: TrainingRecipe
    /// L2-SP strength: each step pulls the head toward the base model's own head by adding
    /// `l2sp · (p − base)` to its gradient (ThawLearning's ``AnchoredOptimizer``); 0 trains without it.
    package var l2sp: Float = 0

    package init(model: Model, recipe: TrainingRecipe) {
        self.model = model
        self.recipe = recipe
    }

    package struct Result {
        package var parameters: [Float]
        package var loss: Float
        package var steps: Int
    }

    package func train(
        start: [Float]?, activations: Tensor, labels: [Int], freezePoint: FreezePoint, seed: UInt64
    ) -> Result {
        let base = model.headParameters(from: freezePoint)
        defer { model.setHeadParameters(base, from: freezePoint) }
        if let start { model.setHeadParameters(start, from: freezePoint) }
        var optimizer = AnchoredOptimizer(base: recipe.optimizer.makeOptimizer(), anchor: base, strength: l2sp)
        let epochs = max(recipe.epochs, 1)
        let losses = MinibatchTrainer(epochs: epochs, batchSize: recipe.batchSize, seed: seed).train(
            model, inputs: activations, labels: labels, freezePoint: freezePoint, optimizer: &optimizer)
        let batches = (labels.count + recipe.batchSize - 1) / recipe.batchSize
        // The committed head is pulled back toward the base model's head (recipe.headInterpolation).
        return Result(
            parameters: HeadInterpolation.interpolate(
                anchor: base, trained: model.headParameters(from: freezePoint), weight: recipe.headInterpolation),
            loss: losses.isEmpty ? 0 : losses.reduce(0, +) / Float(losses.count), steps: epochs * batches)
    }
}
