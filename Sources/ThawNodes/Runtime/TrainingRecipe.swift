import ThawModel
import ThawNN

/// How workers train heads. Its hash is the hyper-parameter stamp on every cached activation and
/// batch: a device whose stamp differs from the coordinator's evicts, and a worker rejects.
public struct TrainingRecipe: Hashable, Sendable {
    public var optimizer: OptimizerConfig
    public var epochs: Int
    public var batchSize: Int
    /// Weight of the trained head in the head a worker commits: `base + w · (trained − base)`, with `base`
    /// the base model's own head (``HeadInterpolation``). Below 1 a head trained on a handful of a user's
    /// samples cannot move as far from the general head; 0.5 made the fewest writers worse in
    /// docs/LEARNING.md's study, so it is the default. 1 commits the trained head as it is.
    public var headInterpolation: Float

    public init(optimizer: OptimizerConfig, epochs: Int, batchSize: Int, headInterpolation: Float = 0.5) {
        precondition(headInterpolation > 0 && headInterpolation <= 1, "the head interpolation must be in (0, 1]")
        self.optimizer = optimizer
        self.epochs = epochs
        self.batchSize = batchSize
        self.headInterpolation = headInterpolation
    }

    /// Hex SHA-256 of the recipe for `architecture`. The freeze point is left out on purpose: moving
    /// the split is stamped separately and must not look like a change of hyper-parameters.
    public func hash(architecture: ModelArchitecture) -> String {
        ContentHash.hyperParameters(
            optimizer, headArchitecture: architecture, freezePoint: FreezePoint(0), batchSize: batchSize,
            extra: headInterpolation == 1
                ? ["epochs": "\(epochs)"] : ["epochs": "\(epochs)", "head-interpolation": "\(headInterpolation)"]
        ).hex
    }
}
