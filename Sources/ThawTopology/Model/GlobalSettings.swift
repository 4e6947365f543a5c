/// Where the handwriting data comes from (`data:`).
public enum DataSource: Hashable, Sendable {
    /// The small data set bundled with ThawData.
    case `default`
    /// A directory holding a data set in the same layout.
    case directory(String)
}

/// How the shared backbone is pretrained before the deployment starts (`model:`).
public struct ModelSettings: Hashable, Sendable {
    /// Epochs of pretraining on the pretraining users (`pretrain-epochs`).
    public var pretrainEpochs: Int = 3
    /// The share of users whose data pretrains the backbone; the rest are the personalised users
    /// (`pretrain-share`, 0…1 exclusive).
    public var pretrainShare: Double = 0.5
    /// Pretraining step size (`learning-rate`).
    public var learningRate: Double = 0.05
    /// Pretraining mini-batch size (`batch-size`).
    public var batchSize: Int = 64
    /// A model file to reuse instead of pretraining, written there if absent (`cache`).
    public var cache: String? = nil

    public init() {}
}

/// When a deployment run is finished (`goal:`); at least one field is set, the first reached wins.
public struct Goal: Hashable, Sendable {
    /// Stop once every simulated device has pulled this many heads (`heads-per-device`).
    public var headsPerDevice: Int?
    /// Stop after this long regardless (`duration`).
    public var duration: Duration?

    public init(headsPerDevice: Int? = 3, duration: Duration? = nil) {
        self.headsPerDevice = headsPerDevice
        self.duration = duration
    }
}
