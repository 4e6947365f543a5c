/// The deployment state as the wire carries it (ThawNodes' `DeploymentState` in plain integers).
///
/// Named with a `Wire` prefix so that it never clashes with ThawNodes' own `DeploymentState`.
public struct WireDeploymentState: Sendable, Hashable {
    public var modelVersion: UInt64
    /// Hex SHA-256 of the base model checkpoint.
    public var modelHash: String
    /// Layers [0, freezePoint) are the frozen backbone.
    public var freezePoint: UInt32
    /// Hex hash of the head-training hyper-parameters.
    public var hyperHash: String
    /// Incremented by the coordinator on every change.
    public var epoch: UInt64

    public init(modelVersion: UInt64, modelHash: String, freezePoint: UInt32, hyperHash: String, epoch: UInt64) {
        self.modelVersion = modelVersion
        self.modelHash = modelHash
        self.freezePoint = freezePoint
        self.hyperHash = hyperHash
        self.epoch = epoch
    }
}
