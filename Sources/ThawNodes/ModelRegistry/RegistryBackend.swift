import Foundation
import ThawNN

/// What the registry asks of its database, whichever database it is: the embedded SQLite file
/// (``RegistryStore``, the default) or a PostgreSQL server that several registry processes share
/// (``PostgresRegistryStore``). Both keep the same promises (docs/REGISTRY.md): compare-and-set head
/// commits, exactly-once batches with fingerprints, acknowledgements decided from the stored rows, a
/// feature store paged by row id, resumable freeze-move advancement, pruning and the audit.
///
/// Thread rule: every method blocks on I/O and may be called from any *dedicated* thread (the registry's
/// storage threads, its freeze-move thread, a test or a tool); never from a socket loop or the node's
/// event handler. Each method is one transaction unless it says otherwise. After ``close()`` every call
/// throws.
public protocol RegistryBackend: AnyObject, Sendable {
    /// Where the data lives, for logs and the audit (a file path, or a URL without its password).
    var location: String { get }
    /// This process's counters (per process, reset on restart; the durable totals are the tables).
    var counters: RegistryCounters { get }
    /// Closes every connection; later calls throw. Safe to call twice.
    func close() throws

    // MARK: Base models

    /// Registers a base model checkpoint; versions are immutable (`.baseModelConflict` for another hash).
    @discardableResult
    func putBaseModel(version: ModelVersion, hash: String, blob: Data) throws -> BaseModelPutOutcome
    func baseModel(_ version: ModelVersion) throws -> BaseModelRecord?
    func latestBaseModelVersion() throws -> ModelVersion?
    func baseModelVersions() throws -> [ModelVersion]

    // MARK: The node's path

    /// Everything ``RegistryIndex`` holds, read in one consistent snapshot.
    func loadIndex() throws -> RegistryIndex
    /// Runs `writes` in **one** transaction, each in its own savepoint so that one refused write does not
    /// undo the others (group commit). Returns one result per write, in order, only once the transaction
    /// committed.
    ///
    /// - Throws: when the transaction did not commit: then nothing of it was kept.
    func applyWrites(_ writes: [RegistryWrite]) throws -> [RegistryWriteResult]
    /// Called on the writer thread when it has been idle for a while after writing (SQLite checkpoints
    /// its WAL there; a server database has nothing to do).
    func writerIdle()

    // MARK: Reads

    /// The user's newest head whatever its stamps, or nil. Workers train on top of it.
    func latestHead(_ user: UserID) throws -> HeadRecord?
    /// The newest stored head of `user` whose content hash is `hash`, or nil (pruned, or never stored):
    /// the base a head delta is computed against.
    func head(_ user: UserID, hash: String) throws -> HeadRecord?
    /// Every head of `user`, oldest first.
    func headHistory(_ user: UserID) throws -> [HeadRecord]
    /// A page of `user`'s rows stamped exactly `stamps` with id > `after`, oldest first.
    func features(_ user: UserID, stamps: FeatureStamps, after: Int64, limit: Int) throws -> [StoredFeature]
    /// Up to `limit` of `user`'s rows under `stamps` with id > `after`, oldest first; when more match, the
    /// *newest* `limit` of them (issue #12 bug 1).
    func featureWindow(_ user: UserID, stamps: FeatureStamps, after: Int64, limit: Int) throws -> [StoredFeature]
    /// The rows ``featureWindow(_:stamps:after:limit:)`` would return, without their activations (each
    /// ``StoredFeature/activations`` empty): what a worker that holds the values asks for. Reads no blob.
    func featureListing(_ user: UserID, stamps: FeatureStamps, after: Int64, limit: Int) throws -> [StoredFeature]
    func featureCount(_ user: UserID, stamps: FeatureStamps) throws -> Int
    /// Feature rows per user under `stamps` (users with none are absent).
    func sampleCounts(stamps: FeatureStamps) throws -> [UserID: Int]
    /// `device`'s stored sequence numbers, ascending.
    func durableSequences(device: DeviceID) throws -> [UInt64]

    // MARK: Freeze moves (docs/FREEZE-MOVES.md)

    func samplesToAdvance(to target: FeatureStamps, after: Int64, limit: Int) throws -> [StoredFeature]
    func featuresToAdvance(
        from source: FeatureStamps, to target: FreezePoint, user: UserID?, after: Int64, limit: Int
    ) throws -> [StoredFeature]
    @discardableResult
    func advanceFeatures(_ features: [AdvancedFeature], to target: FeatureStamps) throws -> Int
    func missingSamples(_ user: UserID, stamps: FeatureStamps, among sampleIDs: [UInt64]) throws -> [UInt64]
    func usersNeedingHeads(at stamps: FeatureStamps) throws -> [UserID]
    func recordRejection(_ rejection: RecordedRejection) throws
    func takeRejections(device: DeviceID) throws -> [RecordedRejection]

    // MARK: Audit

    /// Reads the whole database once (one snapshot) and checks it (see ``RegistryAudit``).
    func audit() throws -> RegistryAudit

    /// Adds to this process's counters.
    func count(_ update: (inout RegistryCounters) -> Void)
}

/// One write of a group commit (``RegistryBackend/applyWrites(_:)``).
public enum RegistryWrite: Sendable {
    /// Store a validated batch exactly once per `(device, seq)`; a different batch under a used key is a
    /// conflict (recorded, not written).
    case storeBatch(FeatureBatch, BatchFingerprint)
    /// Compare-and-set on the parent version; on success record `consumed` and prune beyond `keepHeads`.
    case commitHead(HeadCommit, consumed: [BatchKey], keepHeads: Int?)
    case recordConflict(FeatureBatch, storedUser: UserID, fingerprint: BatchFingerprint, detail: String)
    case recordDeclined(user: UserID, device: DeviceID, hash: String)
}

/// What one ``RegistryWrite`` came back with.
public enum RegistryWriteResult: Sendable {
    case batch(BatchWrite)
    /// The head's index entry on success, and how many superseded heads were pruned.
    case commit(CommitOutcome, RegistryIndex.Head?, pruned: Int)
    case recorded
    /// The store refused this write (a value or a constraint); nothing of it was kept.
    case refused(String)
}

/// Opens the backend a topology's `database:` names.
public enum RegistryBackends {
    /// `postgres://…` or `postgresql://…` opens ``PostgresRegistryStore``; anything else is a SQLite file
    /// path (``RegistryStore``).
    public static func open(_ database: String) throws -> any RegistryBackend {
        if PostgresURL.isPostgres(database) {
            return try PostgresRegistryStore(url: database)
        }
        return try RegistryStore(path: database)
    }

    /// Whether `database` names a server rather than a file (no directory to create, nothing to delete).
    public static func isServer(_ database: String) -> Bool { PostgresURL.isPostgres(database) }
}

extension RegistryBackend {
    /// A device's conditional head read: never serves a head trained under another model version or
    /// freeze point than the caller's (nor, when given, other hyper-parameters).
    ///
    /// - Parameters:
    ///   - ifNoneMatch: the hash of the head the caller already holds, or nil.
    ///   - hyperParameterHash: when non-nil, the head must also match it.
    /// - Returns: `.notModified` when the latest head has hash `ifNoneMatch` (and the stamps match),
    ///   `.head` with a newer matching head, `.noHead`, or `.stale` when the latest head's stamps differ.
    public func head(
        _ user: UserID, ifNoneMatch: String?, modelVersion: ModelVersion, freezePoint: FreezePoint,
        hyperParameterHash: String? = nil
    ) throws -> HeadLookup {
        let latest = try latestHead(user)
        let lookup: HeadLookup
        if let latest {
            let matches =
                latest.stamps.modelVersion == modelVersion && latest.stamps.freezePoint == freezePoint
                && (hyperParameterHash.map { $0 == latest.stamps.hyperParameterHash } ?? true)
            if !matches {
                lookup = .stale(latestVersion: latest.version, latestStamps: latest.stamps)
            } else if latest.hash == ifNoneMatch {
                lookup = .notModified(version: latest.version, hash: latest.hash)
            } else {
                lookup = .head(latest)
            }
        } else {
            lookup = .noHead
        }
        count {
            switch lookup {
            case .head: $0.headsServed += 1
            case .notModified: $0.notModified += 1
            case .stale: $0.staleHeadReads += 1
            case .noHead: break
            }
        }
        return lookup
    }

    /// Makes a device's batch durable exactly once, in its own transaction (tools and tests; the node
    /// groups its writes): the `device_batches` row and every feature row are written together, and a
    /// `(device, sequence)` already present writes nothing. The check and the insert run under the
    /// database's write lock, so two workers storing the same resent batch at once store it once: one
    /// gets `.stored`, the other `.duplicate`.
    ///
    /// - Returns: `.stored(samples:)` or `.duplicate` (data, not an error: resends are expected).
    /// - Throws: ``RegistryError`` when the batch is invalid or `.batchConflict` when another batch is
    ///   stored under its `(device, seq)` (the conflict is recorded, the batch is not written).
    public func storeBatch(_ batch: FeatureBatch) throws -> StoreOutcome {
        try batch.validate()
        let result = try applyWrites([.storeBatch(batch, BatchFingerprint(batch))])[0]
        let outcome: StoreOutcome
        switch result {
        case .batch(.stored(let samples, _, _)): outcome = .stored(samples: samples)
        case .batch(.duplicate): outcome = .duplicate
        case .batch(.conflict(let detail)): throw RegistryError(.batchConflict, detail)
        case .refused(let detail): throw RegistryError(.valueOutOfRange, detail)
        default: throw RegistryError(.corruptRow, "unexpected store result \(result)")
        }
        count {
            switch outcome {
            case .stored(let samples):
                $0.batchesStored += 1
                $0.samplesStored += samples
            case .duplicate:
                $0.duplicates += 1
            }
        }
        return outcome
    }

    /// Compare-and-set in its own transaction (tools and tests): commits `commit` as version
    /// `parentVersion + 1` only if `parentVersion` is still the user's latest version (0 meaning "no head
    /// yet"). This keeps a user's history linear when several workers train the same user: the loser of
    /// a race gets `.conflict` with the winner's version and must retrain on top of it.
    ///
    /// - Returns: `.committed(version:hash:)` or `.conflict(currentVersion:currentHash:)`.
    /// - Throws: ``RegistryError`` for non-finite or empty parameters (nothing is written).
    public func commitHead(_ commit: HeadCommit) throws -> CommitOutcome {
        try commit.validate()
        let result = try applyWrites([.commitHead(commit, consumed: [], keepHeads: nil)])[0]
        guard case .commit(let outcome, _, _) = result else {
            throw RegistryError(.valueOutOfRange, "head commit for \(commit.user) refused: \(result)")
        }
        count {
            switch outcome {
            case .committed: $0.commits += 1
            case .conflict: $0.conflicts += 1
            }
        }
        return outcome
    }

    /// The sequences of `device`'s batches a device may drop from its outbox (see
    /// ``RegistryIndex/acknowledged(device:user:modelVersion:freezePoint:)``), for every user of the device.
    public func acknowledgedSequences(
        device: DeviceID, modelVersion: ModelVersion, freezePoint: FreezePoint
    ) throws -> [UInt64] {
        let index = try loadIndex()
        let users = Set((index.batches[device] ?? [:]).values.map(\.user))
        return users.flatMap {
            index.acknowledged(device: device, user: $0, modelVersion: modelVersion, freezePoint: freezePoint)
        }.sorted()
    }

    /// Whether stored batch `(device, sequence)` is in the training set of its user's latest head.
    public func isTrained(device: DeviceID, sequence: UInt64) throws -> Bool {
        let index = try loadIndex()
        return index.batch(device, sequence).map(index.isTrained) ?? false
    }
}

extension RegistryBackend {
    /// The first page of `user`'s rows under `stamps` (``features(_:stamps:after:limit:)`` from row 0).
    public func features(_ user: UserID, stamps: FeatureStamps, limit: Int) throws -> [StoredFeature] {
        try features(user, stamps: stamps, after: 0, limit: limit)
    }

    /// ``featuresToAdvance(from:to:user:after:limit:)`` for every user from row 0.
    public func featuresToAdvance(from source: FeatureStamps, to target: FreezePoint, limit: Int) throws
        -> [StoredFeature]
    {
        try featuresToAdvance(from: source, to: target, user: nil, after: 0, limit: limit)
    }

    public func featuresToAdvance(from source: FeatureStamps, to target: FreezePoint, user: UserID?, limit: Int)
        throws -> [StoredFeature]
    {
        try featuresToAdvance(from: source, to: target, user: user, after: 0, limit: limit)
    }

    public func featuresToAdvance(from source: FeatureStamps, to target: FreezePoint, after: Int64, limit: Int)
        throws -> [StoredFeature]
    {
        try featuresToAdvance(from: source, to: target, user: nil, after: after, limit: limit)
    }

    /// ``samplesToAdvance(to:after:limit:)`` from row 0.
    public func samplesToAdvance(to target: FeatureStamps, limit: Int) throws -> [StoredFeature] {
        try samplesToAdvance(to: target, after: 0, limit: limit)
    }
}
