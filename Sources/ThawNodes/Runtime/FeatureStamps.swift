import ThawNN

/// The deployment a feature batch or a head was produced under: base model version, freeze point and
/// head hyper-parameters.
///
/// Activations are only comparable when all three match, so the registry stores them on every row and
/// every query filters on them. The model *hash* is left out on purpose: a version names exactly one
/// checkpoint (``RegistryStore/putBaseModel(version:hash:blob:)`` refuses a second hash).
public struct FeatureStamps: Hashable, Sendable, CustomStringConvertible {
    public var modelVersion: ModelVersion
    public var freezePoint: FreezePoint
    public var hyperParameterHash: String

    public init(modelVersion: ModelVersion, freezePoint: FreezePoint, hyperParameterHash: String) {
        self.modelVersion = modelVersion
        self.freezePoint = freezePoint
        self.hyperParameterHash = hyperParameterHash
    }

    /// The stamps a device or worker applies under `deployment`.
    public init(_ deployment: DeploymentState) {
        self.init(
            modelVersion: deployment.modelVersion,
            freezePoint: deployment.freezePoint,
            hyperParameterHash: deployment.hyperParameterHash)
    }

    public var description: String { "\(modelVersion)/\(freezePoint)/hyper=\(hyperParameterHash.prefix(8))" }
}
