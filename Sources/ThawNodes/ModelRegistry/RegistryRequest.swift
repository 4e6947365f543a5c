import ThawNN

/// A device's conditional head read.
public struct HeadQuery: Hashable, Sendable {
    public var user: UserID
    public var device: DeviceID
    /// The hash of the head the device already holds, or nil.
    public var haveHash: String?
    public var modelVersion: ModelVersion
    public var freezePoint: FreezePoint
    /// When non-nil, the head must also have been trained with these hyper-parameters.
    public var hyperParameterHash: String?

    public init(
        user: UserID, device: DeviceID, haveHash: String?, modelVersion: ModelVersion, freezePoint: FreezePoint,
        hyperParameterHash: String? = nil
    ) {
        self.user = user
        self.device = device
        self.haveHash = haveHash
        self.modelVersion = modelVersion
        self.freezePoint = freezePoint
        self.hyperParameterHash = hyperParameterHash
    }
}

/// A page request for a user's feature rows under one set of stamps.
public struct FeatureQuery: Hashable, Sendable {
    public var user: UserID
    public var stamps: FeatureStamps
    /// The last row id of the previous page; 0 for the first.
    public var after: Int64
    public var limit: Int
    /// List the rows without reading their activations (``RegistryBackend/featureListing``).
    public var withoutActivations: Bool

    public init(user: UserID, stamps: FeatureStamps, after: Int64 = 0, limit: Int, withoutActivations: Bool = false) {
        self.user = user
        self.stamps = stamps
        self.after = after
        self.limit = limit
        self.withoutActivations = withoutActivations
    }
}

/// Everything a peer can ask the registry, already decoded from the wire.
public enum RegistryRequest: Hashable, Sendable {
    /// A worker makes a device's batch durable.
    case storeBatch(FeatureBatch)
    /// A device asks for its user's head, conditionally.
    case headRequest(HeadQuery)
    /// A worker asks for the user's newest head, whatever its stamps, to train on top of it.
    case latestHead(UserID)
    case featureFetch(FeatureQuery)
    /// A worker commits a head with compare-and-set on the parent version.
    case commit(HeadCommit)
    case baseModelRequest(ModelVersion)
    /// Register a new base model checkpoint (`thaw ctl publish`, or the registry's own start-up files).
    case storeBaseModel(version: ModelVersion, hash: String, checkpoint: [UInt8])
    /// The coordinator asks how many samples each user has stored under these stamps.
    case sampleCounts(FeatureStamps)
    /// A device that lost its state asks which of its batches are durable.
    case durableSequences(DeviceID)
    /// A device on deployment (`modelVersion`, `freezePoint`) asks which of its batches it may drop from
    /// its outbox: stored and trained into the latest head, or stamped for another deployment.
    case acknowledgedSequences(DeviceID, modelVersion: ModelVersion, freezePoint: FreezePoint)
    /// A worker asks whether a stored batch is already in its user's latest head.
    case batchTrained(DeviceID, sequence: UInt64)
}

/// The registry's answer to one ``RegistryRequest``.
public enum RegistryReply: Hashable, Sendable {
    case batchStored(device: DeviceID, sequence: UInt64, duplicate: Bool)
    case head(HeadLookup)
    case latestHead(UserID, HeadRecord?)
    /// A page of rows; `next` is the cursor for the following page, nil when this page was the last.
    case features([StoredFeature], next: Int64?)
    case commit(CommitOutcome)
    /// The checkpoint, or nil when that version is not registered.
    case baseModel(ModelVersion, BaseModelRecord?)
    case baseModelStored(ModelVersion, hash: String, alreadyPresent: Bool)
    case sampleCounts(FeatureStamps, [UserID: Int])
    case durableSequences(DeviceID, [UInt64])
    case batchTrained(DeviceID, sequence: UInt64, trained: Bool)
    /// The request carried values the registry refuses to store; nothing was written.
    case rejected(RegistryError)
}
