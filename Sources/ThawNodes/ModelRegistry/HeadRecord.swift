import Foundation
import ThawNN
import ThawWire

/// One committed version of a user's trained head.
///
/// A user's heads form one linear history: version `n` was committed on top of `parentVersion == n - 1`
/// (the compare-and-set in ``RegistryBackend/commitHead(_:)`` guarantees it), starting from version 1
/// whose parent is 0, meaning "no head".
public struct HeadRecord: Hashable, Sendable {
    public var user: UserID
    public var version: UInt64
    public var parentVersion: UInt64
    /// The deployment the head was trained under; a device must not use a head whose stamps differ
    /// from its own backbone's.
    public var stamps: FeatureStamps
    /// The head's SHA-256 content hash (`ContentHash.head`, 64 hex digits): the tag for not-modified
    /// checks, and what a device verifies the parameters it received against.
    public var hash: String
    /// The head's flat parameter buffer (ThawNN's `ParameterBuffer` layout).
    public var parameters: [Float]
    /// The training loss reported with the commit.
    public var loss: Float
    /// How many stored samples the head was trained on; lets a worker skip retraining when nothing new
    /// arrived.
    public var samples: Int
    public var createdAt: Date

    public init(
        user: UserID, version: UInt64, parentVersion: UInt64, stamps: FeatureStamps, hash: String,
        parameters: [Float], loss: Float, samples: Int, createdAt: Date
    ) {
        self.user = user
        self.version = version
        self.parentVersion = parentVersion
        self.stamps = stamps
        self.hash = hash
        self.parameters = parameters
        self.loss = loss
        self.samples = samples
        self.createdAt = createdAt
    }
}

/// A head a worker wants to commit on top of `parentVersion` (0 when it trained from scratch with no
/// head in the registry).
public struct HeadCommit: Hashable, Sendable {
    public var user: UserID
    public var parentVersion: UInt64
    public var stamps: FeatureStamps
    public var parameters: [Float]
    /// The SHA-256 content hash of `parameters` (see ``HeadRecord/hash``), verified before a commit.
    public var hash: String
    public var loss: Float
    public var samples: Int

    public init(
        user: UserID, parentVersion: UInt64, stamps: FeatureStamps, parameters: [Float], hash: String, loss: Float,
        samples: Int
    ) {
        self.user = user
        self.parentVersion = parentVersion
        self.stamps = stamps
        self.parameters = parameters
        self.hash = hash
        self.loss = loss
        self.samples = samples
    }

    /// Checks the worker's output before it is stored: parameters present and finite, a finite loss,
    /// a non-negative sample count and a parent version that fits SQLite's integers.
    ///
    /// - Throws: ``RegistryError`` `.emptyBatch`, `.nonFiniteValue` or `.valueOutOfRange`.
    public func validate() throws(RegistryError) {
        guard !parameters.isEmpty else { throw RegistryError(.emptyBatch, "head for \(user) has no parameters") }
        if let bad = TensorFrame.firstNonFinite(in: parameters) {
            throw RegistryError(.nonFiniteValue, "parameters[\(bad)] is \(parameters[bad])")
        }
        guard loss.isFinite else { throw RegistryError(.nonFiniteValue, "loss is \(loss)") }
        guard samples >= 0 else { throw RegistryError(.valueOutOfRange, "samples \(samples) is negative") }
        guard parentVersion < UInt64(Int64.max) else {
            throw RegistryError(.valueOutOfRange, "parent version \(parentVersion) is too large")
        }
    }
}
