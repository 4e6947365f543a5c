/// Settings of the coordinator node.
public struct CoordinatorOptions: Hashable, Sendable {
    /// The freeze point k the deployment starts at (`freeze-point`).
    public var freezePoint: Int = 2
    /// How often the coordinator publishes a heartbeat with the current version and k (`heartbeat-interval`).
    public var heartbeatInterval: Duration = .seconds(1)
    /// When, if ever, the coordinator moves k on its own (`auto-freeze`).
    public var autoFreeze: AutoFreezePolicy = .off

    public init() {}
}

/// The coordinator's rule for moving the freeze point without an operator (`auto-freeze`).
public enum AutoFreezePolicy: Hashable, Sendable {
    /// k only changes through the control endpoint.
    case off
    /// Thaw one more layer (k → k−1) once the median user has `medianSamples` samples stored at the
    /// current point and `interval` has passed since the last move, never below `minimumFreezePoint`
    /// (`{ median-samples: 200, interval: 10m, min-freeze-point: 1 }`).
    case thaw(medianSamples: Int, interval: Duration, minimumFreezePoint: Int)
}

/// Settings of the registry node.
public struct RegistryOptions: Hashable, Sendable {
    /// Where the registry keeps its state (`database`): a SQLite file path (the default; `:memory:` keeps
    /// it in memory), or `postgres://user[:password]@host[:port]/database[?sslmode=…]` for a PostgreSQL
    /// server, which several registry nodes of one topology may share (docs/DEPLOYMENT.md).
    public var database: String = "thaw-out/registry.sqlite"

    /// Whether ``database`` names a PostgreSQL server rather than a file.
    public var isServerDatabase: Bool { database.hasPrefix("postgres://") || database.hasPrefix("postgresql://") }
    /// Superseded head versions kept per user besides the latest (`keep-heads`, 0...1,000,000); older
    /// ones are pruned after each commit. The default keeps 16.
    public var keepHeads: Int = 16

    public init() {}
}

/// Settings of a worker node (all its processes share them).
public struct WorkerOptions: Hashable, Sendable {
    /// The optimiser that trains a head.
    public enum Optimiser: String, Hashable, Sendable, CaseIterable {
        case sgd
        case momentum
    }

    /// Passes over a user's cached activations per training job (`epochs`).
    public var epochs: Int = 5
    /// Step size (`learning-rate`).
    public var learningRate: Double = 0.05
    /// `optimiser: sgd | momentum`.
    public var optimiser: Optimiser = .sgd
    /// Momentum coefficient, used only by `momentum` (`momentum`).
    public var momentum: Double = 0.9
    /// Mini-batch size (`batch-size`).
    public var batchSize: Int = 32
    /// How phones upload activations (`activation-encoding: float32 | float16 | int8`); part of the
    /// hyper-parameter stamp (docs/PROTOCOL.md, "Activation encodings").
    public var activationEncoding: ActivationEncoding = .float32
    /// How far a committed head moves from the base model's head toward the trained one
    /// (`head-interpolation`, in (0, 1]; 1 commits the trained head). Half-way heads by default: the
    /// setting that made no user worse (docs/LEARNING.md). Part of the hyper-parameter stamp.
    public var headInterpolation: Double = 0.5
    /// Clipping plus Gaussian noise on every uploaded activation row (`activation-noise: off |
    /// { clip: C, sigma: s }`, default off); part of the hyper-parameter stamp (docs/PROTOCOL.md,
    /// "Activation noise"). It sits with the encoding because both say what phones upload and both
    /// change what heads are trained on.
    public var activationNoise: ActivationNoise?

    /// Per-row L2 clip `clip` (1e-6...1e6), then N(0, (sigma·clip)²) per value (`sigma` 0...1000). ThawWire's
    /// `ActivationNoise` by value: this leaf module does not import ThawWire.
    public struct ActivationNoise: Hashable, Sendable {
        public var clip: Double
        public var sigma: Double

        public init(clip: Double, sigma: Double) {
            self.clip = clip
            self.sigma = sigma
        }
    }

    /// The deployment's activation encoding (ThawWire's `ActivationEncoding` by name: this leaf module
    /// does not import ThawWire).
    public enum ActivationEncoding: String, Hashable, Sendable, CaseIterable {
        case float32
        case float16
        case int8
    }

    public init() {}
}

/// Settings of the monitor node.
public struct MonitorOptions: Hashable, Sendable {
    /// How often the monitor prints a status line (`interval`).
    public var interval: Duration = .seconds(2)
    /// `HOST:PORT` where the monitor serves its live dashboard and Prometheus `/metrics` (`http`);
    /// nil: no HTTP (docs/MONITORING.md).
    public var http: String? = nil

    public init() {}
}
