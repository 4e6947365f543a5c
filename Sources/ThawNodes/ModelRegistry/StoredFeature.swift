/// A feature row as read back from the registry, with the ids needed to page through rows and to
/// advance them to a deeper freeze point.
public struct StoredFeature: Hashable, Sendable {
    /// The row id: increases with insertion order; use it as the `after` cursor when paging.
    public var id: Int64
    public var user: UserID
    public var device: DeviceID
    public var deviceSequence: UInt64
    public var sampleID: UInt64
    public var label: Int
    public var stamps: FeatureStamps
    public var activations: StoredActivations

    public init(
        id: Int64, user: UserID, device: DeviceID, deviceSequence: UInt64, sampleID: UInt64, label: Int,
        stamps: FeatureStamps, activations: StoredActivations
    ) {
        self.id = id
        self.user = user
        self.device = device
        self.deviceSequence = deviceSequence
        self.sampleID = sampleID
        self.label = label
        self.stamps = stamps
        self.activations = activations
    }
}

/// A feature re-computed at a deeper freeze point by running layers `[k, k')` on a stored row's
/// activation; ``RegistryStore/advanceFeatures(_:to:)`` inserts it next to its source.
public struct AdvancedFeature: Hashable, Sendable {
    /// The ``StoredFeature/id`` of the row at the old freeze point.
    public var sourceID: Int64
    public var activations: StoredActivations

    public init(sourceID: Int64, activations: StoredActivations) {
        self.sourceID = sourceID
        self.activations = activations
    }
}
