// Fetching a base model checkpoint from the registry, and uploading a new one (DEALER → ROUTER).

/// Asks for a base model checkpoint; version 0 means the currently deployed one.
public struct BaseModelRequest: Sendable, Equatable {
    public var modelVersion: UInt64

    public init(modelVersion: UInt64) {
        self.modelVersion = modelVersion
    }
}

/// The registry's answer to ``BaseModelRequest``. The checkpoint file travels as one raw bytes frame
/// ("checkpoint", dtype BYTES) exactly when the status is ``Status/ok``.
public struct BaseModelReply: Sendable, Equatable {
    public enum Status: Sendable, Hashable, CaseIterable {
        case ok, unknownVersion
    }
    public var modelVersion: UInt64
    public var modelHash: String
    public var status: Status
    /// The checkpoint file; non-nil exactly when `status == .ok`.
    public var checkpoint: [UInt8]?

    public init(modelVersion: UInt64, modelHash: String, status: Status, checkpoint: [UInt8]?) {
        self.modelVersion = modelVersion
        self.modelHash = modelHash
        self.status = status
        self.checkpoint = checkpoint
    }
}

/// Gives the registry a new base model version before the coordinator announces it (`thaw ctl publish`).
/// The checkpoint file travels as one raw bytes frame ("checkpoint", dtype BYTES).
public struct BaseModelUpload: Sendable, Equatable {
    public var modelVersion: UInt64
    /// The SHA-256 content hash of the model (`ContentHash.model`), which the registry recomputes.
    public var modelHash: String
    public var checkpoint: [UInt8]

    public init(modelVersion: UInt64, modelHash: String, checkpoint: [UInt8]) {
        self.modelVersion = modelVersion
        self.modelHash = modelHash
        self.checkpoint = checkpoint
    }
}

/// The registry's answer to ``BaseModelUpload`` once the model is durable.
public struct BaseModelStored: Sendable, Equatable {
    public var modelVersion: UInt64
    public var modelHash: String
    /// The registry already held exactly this version with this hash.
    public var alreadyPresent: Bool

    public init(modelVersion: UInt64, modelHash: String, alreadyPresent: Bool) {
        self.modelVersion = modelVersion
        self.modelHash = modelHash
        self.alreadyPresent = alreadyPresent
    }
}
