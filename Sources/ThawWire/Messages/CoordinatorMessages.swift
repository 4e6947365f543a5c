// What the coordinator publishes (PUB, one topic each): model, freeze-point, invalidation, heartbeat.

/// A new base model is deployed.
public struct ModelAnnounce: Sendable, Equatable {
    public var state: WireDeploymentState
    /// Where to fetch the checkpoint (a registry endpoint or a path); informative only.
    public var checkpointLocation: String
    public var checkpointByteLength: UInt64

    public init(state: WireDeploymentState, checkpointLocation: String, checkpointByteLength: UInt64) {
        self.state = state
        self.checkpointLocation = checkpointLocation
        self.checkpointByteLength = checkpointByteLength
    }
}

/// The freeze point moved from `fromFreezePoint` to `state.freezePoint`; `state` is the new state.
public struct FreezePointChange: Sendable, Equatable {
    public var state: WireDeploymentState
    public var fromFreezePoint: UInt32
    public var reason: String

    public init(state: WireDeploymentState, fromFreezePoint: UInt32, reason: String) {
        self.state = state
        self.fromFreezePoint = fromFreezePoint
        self.reason = reason
    }
}

/// Cached activations are no longer valid and must be dropped.
public struct Invalidation: Sendable, Equatable {
    public var epoch: UInt64
    public var modelVersion: UInt64
    /// `nil`: every user (the wire's empty string).
    public var userID: String?
    /// Empty: every sample of the selected users.
    public var sampleIDs: [UInt64]
    public var reason: String

    public init(epoch: UInt64, modelVersion: UInt64, userID: String?, sampleIDs: [UInt64], reason: String) {
        self.epoch = epoch
        self.modelVersion = modelVersion
        self.userID = userID == "" ? nil : userID
        self.sampleIDs = sampleIDs
        self.reason = reason
    }
}

/// The full state, published periodically so late joiners (PUB/SUB drops earlier messages) learn it.
public struct Heartbeat: Sendable, Equatable {
    public var state: WireDeploymentState
    public var coordinatorStartedAtMs: UInt64
    /// Increments with every heartbeat of this coordinator run.
    public var counter: UInt64

    public init(state: WireDeploymentState, coordinatorStartedAtMs: UInt64, counter: UInt64) {
        self.state = state
        self.coordinatorStartedAtMs = coordinatorStartedAtMs
        self.counter = counter
    }
}
