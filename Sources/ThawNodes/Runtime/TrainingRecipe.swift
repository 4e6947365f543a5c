import ThawModel
import ThawNN

/// How workers train heads. Its hash is the hyper-parameter stamp on every cached activation and
/// batch: a device whose stamp differs from the coordinator's evicts, and a worker rejects.
public struct TrainingRecipe: Hashable, Sendable {
    public var optimizer: OptimizerConfig
    public var epochs: Int
    public var batchSize: Int

    public init(optimizer: OptimizerConfig, epochs: Int, batchSize: Int) {
        self.optimizer = optimizer
        self.epochs = epochs
        self.batchSize = batchSize
    }

    /// Hex SHA-256 of the recipe for `architecture`. The freeze point is left out on purpose: moving
    /// the split is stamped separately and must not look like a change of hyper-parameters.
    public func hash(architecture: ModelArchitecture) -> String {
        ContentHash.hyperParameters(
            optimizer, headArchitecture: architecture, freezePoint: FreezePoint(0), batchSize: batchSize,
            extra: ["epochs": "\(epochs)"]
        ).hex
    }
}
