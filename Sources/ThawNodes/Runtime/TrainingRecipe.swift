import ThawModel
import ThawNN
import ThawWire

/// How workers train heads. Its hash is the hyper-parameter stamp on every cached activation and
/// batch: a device whose stamp differs from the coordinator's evicts, and a worker rejects.
public struct TrainingRecipe: Hashable, Sendable {
    public var optimizer: OptimizerConfig
    public var epochs: Int
    public var batchSize: Int
    /// How phones upload activations: it changes what heads are trained on, so it is part of the stamp.
    public var activationEncoding: ActivationEncoding
    /// Weight of the trained head in the head a worker commits: `base + w · (trained − base)`, with `base`
    /// the base model's own head (``HeadInterpolation``). Below 1 a head trained on a handful of a user's
    /// samples cannot move as far from the general head; 0.5 made the fewest writers worse in
    /// docs/LEARNING.md's study, so it is the default. 1 commits the trained head as it is.
    public var headInterpolation: Float
    /// Clipping plus Gaussian noise the phones add to every uploaded row (``ActivationNoise``), or nil.
    /// Heads trained on noised rows differ from heads trained on clean ones, so it is part of the stamp.
    public var activationNoise: ActivationNoise?

    public init(
        optimizer: OptimizerConfig, epochs: Int, batchSize: Int, activationEncoding: ActivationEncoding = .float32,
        headInterpolation: Float = 0.5, activationNoise: ActivationNoise? = nil
    ) {
        precondition(headInterpolation > 0 && headInterpolation <= 1, "the head interpolation must be in (0, 1]")
        self.optimizer = optimizer
        self.epochs = epochs
        self.batchSize = batchSize
        self.activationEncoding = activationEncoding
        self.headInterpolation = headInterpolation
        self.activationNoise = activationNoise
    }

    /// What the stamp tells phones about uploading: the encoding and the noise.
    public var uploadRule: UploadRule { UploadRule(encoding: activationEncoding, noise: activationNoise) }

    /// The hyper-parameter stamp of the recipe for `architecture`: hex SHA-256, followed by
    /// `+float16` or `+int8` when activations are not uploaded as float32 (``ActivationEncoding``), then
    /// `+noise:<clip>:<sigma>` when phones noise their uploads (``UploadRule``).
    /// The freeze point is left out on purpose: moving the split is stamped separately and must not
    /// look like a change of hyper-parameters. A float32 recipe without head interpolation (1) hashes
    /// exactly as before encodings and interpolation existed; a recipe without noise hashes as before noise.
    public func hash(architecture: ModelArchitecture) -> String {
        var extra = ["epochs": "\(epochs)"]
        if activationEncoding != .float32 { extra["activationEncoding"] = activationEncoding.rawValue }
        if headInterpolation != 1 { extra["head-interpolation"] = "\(headInterpolation)" }
        if let activationNoise { extra["activation-noise"] = activationNoise.stampPart }
        let hex = ContentHash.hyperParameters(
            optimizer, headArchitecture: architecture, freezePoint: FreezePoint(0), batchSize: batchSize,
            extra: extra
        ).hex
        return uploadRule.stamp(hash: hex)
    }
}
