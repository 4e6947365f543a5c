/// A device asks the registry which of its samples it lacks under one set of stamps, and collects the
/// rejections workers recorded for it. Sent after a shallower freeze move (with sample ids) and while
/// the device has batches outstanding (without).
public struct FreezeSyncRequest: Sendable, Equatable {
    public var userID: String
    public var deviceID: String
    public var modelVersion: UInt64
    public var freezePoint: UInt32
    public var hyperHash: String
    /// Annotated samples the device holds; empty when it only collects rejections.
    public var sampleIDs: [UInt64]

    public init(
        userID: String, deviceID: String, modelVersion: UInt64, freezePoint: UInt32, hyperHash: String,
        sampleIDs: [UInt64]
    ) {
        self.userID = userID
        self.deviceID = deviceID
        self.modelVersion = modelVersion
        self.freezePoint = freezePoint
        self.hyperHash = hyperHash
        self.sampleIDs = sampleIDs
    }
}

/// The registry's answer to a ``FreezeSyncRequest``.
public struct FreezeSyncReply: Sendable, Equatable {
    public var deviceID: String
    public var freezePoint: UInt32
    /// Of the asked samples, those with no stored row under the asked stamps.
    public var missingSampleIDs: [UInt64]
    /// Rejections recorded for this device since its last sync (each delivered once).
    public var rejections: [BatchRejected]

    public init(deviceID: String, freezePoint: UInt32, missingSampleIDs: [UInt64], rejections: [BatchRejected]) {
        self.deviceID = deviceID
        self.freezePoint = freezePoint
        self.missingSampleIDs = missingSampleIDs
        self.rejections = rejections
    }
}

/// The registry advanced a user's stored activations to `state`: a worker should train that user's
/// head on them, since no device batch will arrive to trigger it.
public struct RetrainRequest: Sendable, Equatable {
    public var userID: String
    public var state: WireDeploymentState
    public var reason: String

    public init(userID: String, state: WireDeploymentState, reason: String = "") {
        self.userID = userID
        self.state = state
        self.reason = reason
    }
}

/// The registry recorded a worker's ``BatchRejected`` for the device to collect.
public struct RejectionRecorded: Sendable, Equatable {
    public var deviceID: String
    public var deviceSeq: UInt64

    public init(deviceID: String, deviceSeq: UInt64) {
        self.deviceID = deviceID
        self.deviceSeq = deviceSeq
    }
}
