import ThawNN

/// Why samples are invalidated.
public enum InvalidationReason: String, Sendable, Equatable, Codable {
    /// The user deleted the data.
    case userDeleted
    /// The label was wrong.
    case mislabelled
    /// The operator removed it for another reason.
    case operatorRequest
}

/// An instruction to every device (or one user's devices) to forget samples.
public struct Invalidation: Sendable, Equatable {
    /// `nil` means every user.
    public var user: UserID?
    public var sampleIds: [UInt64]
    public var reason: InvalidationReason
    /// The deployment epoch when it was issued, for logs and ordering.
    public var epoch: UInt64

    public init(user: UserID?, sampleIds: [UInt64], reason: InvalidationReason, epoch: UInt64) {
        self.user = user
        self.sampleIds = sampleIds
        self.reason = reason
        self.epoch = epoch
    }
}

/// What the coordinator glue must do, in order. A `.persist` always comes before the broadcast of the
/// state it holds, so a restart can never announce an older state than one already broadcast.
public enum CoordinatorAction: Sendable, Equatable {
    case persist(CoordinatorSnapshot)
    case broadcastModelAnnounce(DeploymentState)
    case broadcastFreezePointChange(from: FreezePoint, to: FreezePoint, state: DeploymentState, reason: String)
    case broadcastInvalidation(Invalidation)
    /// The full state, periodically, so late joiners and devices that missed a broadcast converge.
    case broadcastHeartbeat(DeploymentState, counter: UInt64)
}
