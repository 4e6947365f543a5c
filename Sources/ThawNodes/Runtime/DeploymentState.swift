import ThawNN

/// What the coordinator owns and broadcasts: which base model is deployed, where it is split, and
/// with which training hyper-parameters.
///
/// Every cached activation and every feature batch carries these stamps; anything stamped with a
/// different state is stale. `epoch` counts changes so that a subscriber can tell a newer state from a
/// replayed one even when the model version is unchanged (a freeze-point move keeps the version).
public struct DeploymentState: Hashable, Sendable {
    public var modelVersion: ModelVersion
    /// Hex SHA-256 of the base model's checkpoint, as computed by ThawModel.
    public var modelHash: String
    public var freezePoint: FreezePoint
    /// Hex hash of the head-training hyper-parameters (optimiser, learning rate, head shape).
    public var hyperParameterHash: String
    public var epoch: UInt64

    public init(
        modelVersion: ModelVersion,
        modelHash: String,
        freezePoint: FreezePoint,
        hyperParameterHash: String,
        epoch: UInt64
    ) {
        self.modelVersion = modelVersion
        self.modelHash = modelHash
        self.freezePoint = freezePoint
        self.hyperParameterHash = hyperParameterHash
        self.epoch = epoch
    }
}
