import ThawNN

/// What the registry keeps in memory to answer without touching SQLite: each user's latest head (no
/// parameters) and each device's stored batches (no activations).
///
/// Loaded once from the store at start (``RegistryStore/loadIndex()``) and then kept up to date by
/// ``ModelRegistryStateMachine`` from the results of the store operations it ordered, so it always
/// equals what a fresh load would return. Not-modified head pulls, stale requests, duplicate and
/// conflicting redeliveries, CAS conflicts and the acknowledged sequences of a `HeadReply` are all
/// decided from it.
public struct RegistryIndex: Hashable, Sendable {
    /// A committed head without its parameters.
    public struct Head: Hashable, Sendable {
        public var version: UInt64
        public var parentVersion: UInt64
        public var hash: String
        public var stamps: FeatureStamps
        public var samples: Int
        /// The id of the user's `samples`-th row under `stamps` (0 when `samples` is 0): every row up to
        /// it was trained into this head or an ancestor.
        public var trainedThrough: Int64

        public init(
            version: UInt64, parentVersion: UInt64, hash: String, stamps: FeatureStamps, samples: Int,
            trainedThrough: Int64
        ) {
            self.version = version
            self.parentVersion = parentVersion
            self.hash = hash
            self.stamps = stamps
            self.samples = samples
            self.trainedThrough = trainedThrough
        }
    }

    /// A stored batch without its activations.
    public struct Batch: Hashable, Sendable {
        public var user: UserID
        public var stamps: FeatureStamps
        public var samples: Int
        /// The highest row id of the batch's rows at its own freeze point.
        public var lastRow: Int64
        /// nil for rows an older build stored.
        public var fingerprint: BatchFingerprint?
        /// The stamps of committed heads that listed this batch in `HeadCommit.consumed`.
        public var consumedUnder: Set<FeatureStamps>

        public init(
            user: UserID, stamps: FeatureStamps, samples: Int, lastRow: Int64, fingerprint: BatchFingerprint?,
            consumedUnder: Set<FeatureStamps> = []
        ) {
            self.user = user
            self.stamps = stamps
            self.samples = samples
            self.lastRow = lastRow
            self.fingerprint = fingerprint
            self.consumedUnder = consumedUnder
        }
    }

    public var heads: [UserID: Head] = [:]
    public var batches: [DeviceID: [UInt64: Batch]] = [:]

    public init(heads: [UserID: Head] = [:], batches: [DeviceID: [UInt64: Batch]] = [:]) {
        self.heads = heads
        self.batches = batches
    }

    public func batch(_ device: DeviceID, _ sequence: UInt64) -> Batch? { batches[device]?[sequence] }

    /// Whether `batch` is in the training set of its user's latest head: same stamps, and either within
    /// the head's first `samples` rows or named as consumed by a head under those stamps.
    public func isTrained(_ batch: Batch) -> Bool {
        guard let head = heads[batch.user], head.stamps == batch.stamps else { return false }
        return batch.lastRow <= head.trainedThrough || batch.consumedUnder.contains(head.stamps)
    }

    /// The sequences of `device`'s batches of `user` that the device may drop from its outbox while it
    /// runs deployment (`modelVersion`, `freezePoint`): trained into the user's latest head, or stamped
    /// for another deployment (the device recomputes and re-sends those). Batches of other users under
    /// this device id are never listed (issue #12, bug 2).
    public func acknowledged(
        device: DeviceID, user: UserID, modelVersion: ModelVersion, freezePoint: FreezePoint
    ) -> [UInt64] {
        guard let stored = batches[device] else { return [] }
        return stored.compactMap { sequence, batch -> UInt64? in
            guard batch.user == user else { return nil }
            if batch.stamps.modelVersion != modelVersion || batch.stamps.freezePoint != freezePoint {
                return sequence
            }
            return isTrained(batch) ? sequence : nil
        }.sorted()
    }
}
