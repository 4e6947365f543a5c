import Foundation
import ThawNN

/// A registered base model checkpoint: the bytes a device downloads to build its backbone.
public struct BaseModelRecord: Hashable, Sendable {
    public var version: ModelVersion
    /// Hex SHA-256 of `blob`, as ThawModel computes it; the registry stores it and does not recompute.
    public var hash: String
    /// The serialised architecture and weights, opaque to the registry.
    public var blob: Data
    public var createdAt: Date

    public init(version: ModelVersion, hash: String, blob: Data, createdAt: Date) {
        self.version = version
        self.hash = hash
        self.blob = blob
        self.createdAt = createdAt
    }
}
