// Feature batches and their acknowledgements: device → worker (PUSH/PULL), worker ⇄ registry
// (DEALER/ROUTER). Small value types kept together because they form one conversation.

/// Cached backbone activations of annotated samples, stamped with the deployment state they were
/// computed under. `activations` has shape [n, ...] with n == `sampleIDs.count` == `labels.count`.
public struct FeatureBatch: Sendable, Equatable {
    public var userID: String
    public var deviceID: String
    /// Per-device sequence; (deviceID, deviceSeq) identifies the batch for deduplication.
    public var deviceSeq: UInt64
    public var modelVersion: UInt64
    public var modelHash: String
    public var freezePoint: UInt32
    public var hyperHash: String
    public var sampleIDs: [UInt64]
    public var labels: [UInt32]
    public var createdAtMs: UInt64
    public var activations: WireTensor
    /// The coordinator epoch the device stamped the batch under; 0 when unknown.
    public var epoch: UInt64
    /// How `activations` travel: encoded by the codec on the way out, decoded back to float32 on
    /// arrival (where it says what the frame was). A device sends the encoding its stamp names
    /// (``ActivationEncoding/init(stamp:)`` of `hyperHash`); a worker refuses any other.
    public var activationEncoding: ActivationEncoding

    public init(
        userID: String, deviceID: String, deviceSeq: UInt64, modelVersion: UInt64, modelHash: String,
        freezePoint: UInt32, hyperHash: String, sampleIDs: [UInt64], labels: [UInt32], createdAtMs: UInt64,
        activations: WireTensor, epoch: UInt64 = 0, activationEncoding: ActivationEncoding = .float32
    ) {
        self.epoch = epoch
        self.activationEncoding = activationEncoding
        self.userID = userID
        self.deviceID = deviceID
        self.deviceSeq = deviceSeq
        self.modelVersion = modelVersion
        self.modelHash = modelHash
        self.freezePoint = freezePoint
        self.hyperHash = hyperHash
        self.sampleIDs = sampleIDs
        self.labels = labels
        self.createdAtMs = createdAtMs
        self.activations = activations
    }
}

/// A worker (or the registry) refused a batch; `currentState` is what it should have been stamped with.
public struct BatchRejected: Sendable, Equatable {
    public enum Reason: Sendable, Hashable, CaseIterable {
        case staleModelVersion, staleFreezePoint, staleHyperParameters, invalid
    }
    public var deviceID: String
    public var deviceSeq: UInt64
    public var reason: Reason
    public var currentState: WireDeploymentState
    public var detail: String

    public init(
        deviceID: String, deviceSeq: UInt64, reason: Reason, currentState: WireDeploymentState, detail: String = ""
    ) {
        self.deviceID = deviceID
        self.deviceSeq = deviceSeq
        self.reason = reason
        self.currentState = currentState
        self.detail = detail
    }
}

/// The registry tells a device which of its batches are durable (it may drop them from its outbox).
public struct BatchAck: Sendable, Equatable {
    public var deviceID: String
    public var durableSeqs: [UInt64]

    public init(deviceID: String, durableSeqs: [UInt64]) {
        self.deviceID = deviceID
        self.durableSeqs = durableSeqs
    }
}

/// The registry's answer to a worker that forwarded a ``FeatureBatch`` to store.
public struct FeatureStored: Sendable, Equatable {
    public var deviceID: String
    public var deviceSeq: UInt64
    /// True when (deviceID, deviceSeq) was stored before: an at-least-once redelivery.
    public var duplicate: Bool
    /// The registry row id of each sample, in the batch's order, when this reply stored the batch; empty
    /// for a redelivery or when the registry does not say.
    public var rowIDs: [UInt64]

    public init(deviceID: String, deviceSeq: UInt64, duplicate: Bool, rowIDs: [UInt64] = []) {
        self.deviceID = deviceID
        self.deviceSeq = deviceSeq
        self.duplicate = duplicate
        self.rowIDs = rowIDs
    }
}

/// A worker asks the registry for a user's stored activations under one deployment state.
public struct FeatureFetch: Sendable, Equatable {
    public var userID: String
    public var modelVersion: UInt64
    public var freezePoint: UInt32
    /// At least 1.
    public var maxSamples: UInt32
    /// The hyper-parameter stamp the rows must carry.
    public var hyperHash: String
    /// Only rows with a greater registry row id (0: from the first), oldest first.
    public var afterRow: UInt64
    /// List the rows without their values (the set's activations are `[0]`): the asker holds them.
    public var withoutActivations: Bool

    public init(
        userID: String, modelVersion: UInt64, freezePoint: UInt32, maxSamples: UInt32, hyperHash: String = "",
        afterRow: UInt64 = 0, withoutActivations: Bool = false
    ) {
        self.withoutActivations = withoutActivations
        self.userID = userID
        self.modelVersion = modelVersion
        self.freezePoint = freezePoint
        self.maxSamples = maxSamples
        self.hyperHash = hyperHash
        self.afterRow = afterRow
    }
}

/// The registry's answer to ``FeatureFetch``; may be empty (n == 0).
public struct FeatureSet: Sendable, Equatable {
    public var userID: String
    public var sampleIDs: [UInt64]
    public var labels: [UInt32]
    /// Shape [n, ...].
    public var activations: WireTensor
    /// The registry's row id of each row, increasing; empty when the sender does not say.
    public var rowIDs: [UInt64]

    /// The rows are named without their values (an answer to ``FeatureFetch/withoutActivations``):
    /// activations `[0]` with ids and labels present.
    public var isListing: Bool { activations.shape == [0] && !labels.isEmpty }

    public init(userID: String, sampleIDs: [UInt64], labels: [UInt32], activations: WireTensor, rowIDs: [UInt64] = []) {
        self.userID = userID
        self.sampleIDs = sampleIDs
        self.labels = labels
        self.activations = activations
        self.rowIDs = rowIDs
    }
}

/// The coordinator's question for its automatic freeze policy: stored samples per user under these stamps.
public struct SampleCountRequest: Sendable, Equatable {
    public var modelVersion: UInt64
    public var freezePoint: UInt32
    public var hyperHash: String

    public init(modelVersion: UInt64, freezePoint: UInt32, hyperHash: String) {
        self.modelVersion = modelVersion
        self.freezePoint = freezePoint
        self.hyperHash = hyperHash
    }
}

/// The registry's answer to ``SampleCountRequest``: stored samples per user (users with none are absent).
public struct SampleCounts: Sendable, Equatable {
    public var modelVersion: UInt64
    public var freezePoint: UInt32
    public var hyperHash: String
    public var counts: [String: UInt64]

    public init(modelVersion: UInt64, freezePoint: UInt32, hyperHash: String, counts: [String: UInt64]) {
        self.modelVersion = modelVersion
        self.freezePoint = freezePoint
        self.hyperHash = hyperHash
        self.counts = counts
    }
}
