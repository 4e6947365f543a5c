import ThawNN

/// The stamps that say which deployment produced an activation: the same three stamps a feature
/// row carries in the registry. An activation is only usable (for flushing or prediction) when all
/// three match the current ``DeploymentState``; the epoch is deliberately not part of it, since an
/// unrelated change must not make valid activations stale.
public typealias ActivationStamp = FeatureStamps

/// Where an annotated entry stands with respect to the registry.
public enum UploadState: Hashable, Sendable {
    /// Not yet part of a batch at the current stamps.
    case pending
    /// Sent in batch `seq`, not yet acknowledged as durable.
    case inFlight(seq: UInt64)
    /// The registry reported batch `seq` durable.
    case durable(seq: UInt64)
}

/// One cached backbone output for one sample.
///
/// The raw input is not copied: `sampleId` names it in the device's sample store, which is where a
/// rebuild from scratch reads it.
public struct CachedActivation: Sendable, Equatable {
    public var sampleId: UInt64
    public var label: Int
    public var annotated: Bool
    /// The backbone output at `stamp.freezePoint`.
    public var activation: Activation
    public var stamp: ActivationStamp
    public var createdAt: Timestamp
    /// Intermediate outputs of the same model version, keyed by layer index: the output of layers
    /// `[0, layer)`. They let a freeze-point move resume the forward pass part-way.
    public var checkpoints: [Int: Activation]
    public var upload: UploadState

    public init(
        sampleId: UInt64, label: Int, annotated: Bool, activation: Activation, stamp: ActivationStamp,
        createdAt: Timestamp, checkpoints: [Int: Activation] = [:], upload: UploadState = .pending
    ) {
        self.sampleId = sampleId
        self.label = label
        self.annotated = annotated
        self.activation = activation
        self.stamp = stamp
        self.createdAt = createdAt
        self.checkpoints = checkpoints
        self.upload = upload
    }

    /// Bytes held: the activation plus every checkpoint.
    public var byteCount: Int { activation.byteCount + checkpointByteCount }

    public var checkpointByteCount: Int { checkpoints.values.reduce(0) { $0 + $1.byteCount } }
}
