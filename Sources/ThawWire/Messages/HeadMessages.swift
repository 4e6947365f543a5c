// Personal heads: devices and workers pull them, workers commit them (compare-and-set), from the
// registry (DEALER → ROUTER).

/// Asks for a user's current head; `haveHash` lets the registry answer "not modified".
public struct HeadRequest: Sendable, Equatable {
    public var userID: String
    /// Requesting device; empty when a worker asks.
    public var deviceID: String
    /// Hash of the head the requester holds; empty: none.
    public var haveHash: String
    public var modelVersion: UInt64
    public var freezePoint: UInt32
    /// The hash of a head this device pulled, compared with the one it runs, and declined; empty: none.
    public var declinedHash: String
    /// The requester can apply a ``HeadReply/Status/headDelta`` against the head `haveHash` names.
    public var acceptDelta: Bool

    public init(
        userID: String, deviceID: String, haveHash: String, modelVersion: UInt64, freezePoint: UInt32,
        declinedHash: String = "", acceptDelta: Bool = false
    ) {
        self.userID = userID
        self.deviceID = deviceID
        self.haveHash = haveHash
        self.modelVersion = modelVersion
        self.freezePoint = freezePoint
        self.declinedHash = declinedHash
        self.acceptDelta = acceptDelta
    }
}

/// The registry's answer to ``HeadRequest``; `headParameters` is non-nil exactly when status is `.head`,
/// `headDelta` exactly when it is `.headDelta`.
public struct HeadReply: Sendable, Equatable {
    public enum Status: Sendable, Hashable, CaseIterable {
        /// The requester's `haveHash` is the current head.
        case notModified
        /// A head follows in `headParameters`.
        case head
        /// The user has no head for this model version and freeze point.
        case noHead
        /// The request names an outdated model version or freeze point.
        case staleRequest
        /// Only to a request with `acceptDelta`: `headDelta` turns the head `deltaBaseHash` names (the
        /// request's `haveHash`) into the head `headHash` names.
        case headDelta
    }
    public var status: Status
    public var userID: String
    public var headVersion: UInt64
    public var parentVersion: UInt64
    public var headHash: String
    public var modelVersion: UInt64
    public var freezePoint: UInt32
    public var hyperHash: String
    /// Batches of the requesting device that are durable in the registry.
    public var durableSeqs: [UInt64]
    /// The flat head parameter vector (rank 1).
    public var headParameters: WireTensor?
    /// `.headDelta` only: the hash of the head the delta applies to.
    public var deltaBaseHash: String
    /// `.headDelta` only: the `head_delta` frame, XOR-deflate encoded (docs/PROTOCOL.md, "Head deltas").
    public var headDelta: [UInt8]?

    public init(
        status: Status, userID: String, headVersion: UInt64, parentVersion: UInt64, headHash: String,
        modelVersion: UInt64, freezePoint: UInt32, hyperHash: String, durableSeqs: [UInt64],
        headParameters: WireTensor?, deltaBaseHash: String = "", headDelta: [UInt8]? = nil
    ) {
        self.deltaBaseHash = deltaBaseHash
        self.headDelta = headDelta
        self.status = status
        self.userID = userID
        self.headVersion = headVersion
        self.parentVersion = parentVersion
        self.headHash = headHash
        self.modelVersion = modelVersion
        self.freezePoint = freezePoint
        self.hyperHash = hyperHash
        self.durableSeqs = durableSeqs
        self.headParameters = headParameters
    }
}

/// One feature batch, by its deduplication key.
public struct BatchRef: Sendable, Hashable {
    public var deviceID: String
    public var deviceSeq: UInt64

    public init(deviceID: String, deviceSeq: UInt64) {
        self.deviceID = deviceID
        self.deviceSeq = deviceSeq
    }
}

/// How the training run behind a commit went.
public struct TrainingMetrics: Sendable, Equatable {
    public var loss: Double
    public var samples: UInt64
    public var steps: UInt64

    public init(loss: Double, samples: UInt64, steps: UInt64) {
        self.loss = loss
        self.samples = samples
        self.steps = steps
    }
}

/// A trained head, accepted only if the user's current head version is `parentVersion` (0: none yet).
public struct HeadCommit: Sendable, Equatable {
    public var userID: String
    public var parentVersion: UInt64
    public var modelVersion: UInt64
    public var freezePoint: UInt32
    public var hyperHash: String
    public var headHash: String
    public var consumed: [BatchRef]
    public var metrics: TrainingMetrics
    /// The flat head parameter vector (rank 1).
    public var headParameters: WireTensor

    public init(
        userID: String, parentVersion: UInt64, modelVersion: UInt64, freezePoint: UInt32, hyperHash: String,
        headHash: String, consumed: [BatchRef], metrics: TrainingMetrics, headParameters: WireTensor
    ) {
        self.userID = userID
        self.parentVersion = parentVersion
        self.modelVersion = modelVersion
        self.freezePoint = freezePoint
        self.hyperHash = hyperHash
        self.headHash = headHash
        self.consumed = consumed
        self.metrics = metrics
        self.headParameters = headParameters
    }
}

/// Published by the registry (topic ``Topic/heads``) after each committed head, so a device pulls only
/// when its user's head changed.
public struct HeadAnnounce: Sendable, Equatable {
    public var userID: String
    public var headVersion: UInt64
    public var headHash: String
    public var modelVersion: UInt64
    public var freezePoint: UInt32
    public var hyperHash: String

    public init(
        userID: String, headVersion: UInt64, headHash: String, modelVersion: UInt64, freezePoint: UInt32,
        hyperHash: String
    ) {
        self.userID = userID
        self.headVersion = headVersion
        self.headHash = headHash
        self.modelVersion = modelVersion
        self.freezePoint = freezePoint
        self.hyperHash = hyperHash
    }
}

/// The commit was accepted as head `version`.
public struct CommitAck: Sendable, Equatable {
    public var userID: String
    public var version: UInt64
    public var headHash: String

    public init(userID: String, version: UInt64, headHash: String) {
        self.userID = userID
        self.version = version
        self.headHash = headHash
    }
}

/// The commit's parent is not the current head; the worker must rebase on `currentVersion`.
public struct CommitConflict: Sendable, Equatable {
    public var userID: String
    public var currentVersion: UInt64
    public var currentHash: String

    public init(userID: String, currentVersion: UInt64, currentHash: String) {
        self.userID = userID
        self.currentVersion = currentVersion
        self.currentHash = currentHash
    }
}
