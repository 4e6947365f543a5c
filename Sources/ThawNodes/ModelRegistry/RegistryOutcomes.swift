/// The result of storing a feature batch. A duplicate is an expected outcome of at-least-once
/// delivery, not an error.
public enum StoreOutcome: Hashable, Sendable {
    /// The batch row and its `samples` feature rows were written in one transaction.
    case stored(samples: Int)
    /// `(device, sequence)` was already durable; nothing was written.
    case duplicate
}

/// The result of a device's conditional head read.
public enum HeadLookup: Hashable, Sendable {
    /// The latest head still has the hash the caller holds.
    case notModified(version: UInt64, hash: String)
    /// A newer head, trained under exactly the stamps the caller asked for.
    case head(HeadRecord)
    /// The user has no head yet.
    case noHead
    /// The latest head was trained under other stamps (older or newer deployment); it is not served.
    /// The caller learns what the registry has so it can tell who is behind.
    case stale(latestVersion: UInt64, latestStamps: FeatureStamps)
}

/// The result of a compare-and-set head commit.
public enum CommitOutcome: Hashable, Sendable {
    /// The head became `version` (its parent's version plus one).
    case committed(version: UInt64, hash: String)
    /// Another commit got there first: the caller's parent is no longer the latest. `currentVersion` is
    /// 0 and `currentHash` nil only when the caller named a parent that never existed.
    case conflict(currentVersion: UInt64, currentHash: String?)
}

/// The result of registering a base model.
public enum BaseModelPutOutcome: Hashable, Sendable {
    case inserted
    /// The same version with the same hash was already registered (an idempotent retry).
    case alreadyPresent
}
