import Foundation
import GRDB
import ThawNN

/// The result of writing one batch inside a group-commit transaction.
public enum BatchWrite: Hashable, Sendable {
    /// Written; its rows end at `lastRow`. `rowIDs`: each sample's row id in the batch's order (empty when
    /// the backend does not report them).
    case stored(samples: Int, lastRow: Int64, rowIDs: [Int64] = [])
    /// The same batch was already stored (same identity, and same content under the same stamps).
    case duplicate
    /// Another batch is stored under this `(device, seq)`; nothing was written (the conflict is recorded).
    case conflict(String)
}

extension RegistryStore {
    /// Reads everything ``RegistryIndex`` holds: latest heads without parameters and batches without
    /// activations. Called once at start.
    public func loadIndex() throws -> RegistryIndex {
        try read { db in
            var index = RegistryIndex()
            let heads = try Row.fetchAll(
                db,
                sql: """
                    SELECT h.user, h.version, h.parent_version, h.hash, h.model_version, h.freeze_point, h.hyper_hash,
                        h.samples
                    FROM heads h
                    WHERE h.version = (SELECT MAX(version) FROM heads WHERE user = h.user)
                    """)
            for row in heads {
                let user = UserID(row["user"])
                let stamps = Self.stamps(row)
                let samples: Int = row["samples"]
                index.heads[user] = RegistryIndex.Head(
                    version: UInt64(row["version"] as Int64), parentVersion: UInt64(row["parent_version"] as Int64),
                    hash: row["hash"], stamps: stamps, samples: samples,
                    trainedThrough: try Self.trainedThrough(db, user: user, stamps: stamps, samples: samples))
            }
            var consumed: [String: Set<FeatureStamps>] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT c.device, c.seq, h.model_version, h.freeze_point, h.hyper_hash
                    FROM head_consumed c JOIN heads h ON h.user = c.user AND h.version = c.version
                    """)
            {
                consumed["\(row["device"] as String)#\(row["seq"] as Int64)", default: []].insert(Self.stamps(row))
            }
            let batches = try Row.fetchAll(
                db,
                sql: """
                    SELECT b.device, b.seq, b.user, b.model_version, b.freeze_point, b.hyper_hash, b.samples,
                        b.identity_hash, b.content_hash,
                        (SELECT MAX(f.id) FROM features f
                         WHERE f.device = b.device AND f.device_seq = b.seq AND f.freeze_point = b.freeze_point)
                            AS last_id
                    FROM device_batches b
                    """)
            for row in batches {
                let device: String = row["device"]
                let seq: Int64 = row["seq"]
                let identity: String? = row["identity_hash"]
                let content: String? = row["content_hash"]
                index.batches[DeviceID(device), default: [:]][UInt64(seq)] = RegistryIndex.Batch(
                    user: UserID(row["user"]), stamps: Self.stamps(row), samples: row["samples"],
                    lastRow: (row["last_id"] as Int64?) ?? 0,
                    fingerprint: identity.flatMap { id in content.map { BatchFingerprint(identity: id, content: $0) } },
                    consumedUnder: consumed["\(device)#\(seq)"] ?? [])
            }
            return index
        }
    }

    static func stamps(_ row: Row) -> FeatureStamps {
        FeatureStamps(
            modelVersion: ModelVersion(UInt64(row["model_version"] as Int64)),
            freezePoint: FreezePoint(row["freeze_point"]), hyperParameterHash: row["hyper_hash"])
    }

    /// The id of `user`'s `samples`-th row under `stamps` (0 for none; `Int64.max` when fewer rows exist).
    static func trainedThrough(_ db: Database, user: UserID, stamps: FeatureStamps, samples: Int) throws -> Int64 {
        guard samples > 0 else { return 0 }
        let last = try Int64.fetchOne(
            db,
            sql: """
                SELECT id FROM features WHERE user = ? AND model_version = ? AND freeze_point = ? AND hyper_hash = ?
                ORDER BY id LIMIT 1 OFFSET ?
                """,
            arguments: [
                user.rawValue, Int64(stamps.modelVersion.number), stamps.freezePoint.index, stamps.hyperParameterHash,
                samples - 1,
            ])
        return last ?? Int64.max
    }

    /// Writes `batch` inside the caller's transaction, exactly once per `(device, seq)`: a redelivery is
    /// compared with what was stored (``BatchFingerprint``) and a different batch under the same key is a
    /// conflict, recorded in `batch_conflicts` and not written. The batch must already be validated.
    static func writeBatch(_ db: Database, _ batch: FeatureBatch, fingerprint: BatchFingerprint) throws -> BatchWrite {
        let device = batch.device.rawValue
        let sequence = Int64(batch.sequence)
        let stamps = batch.stamps
        if let existing = try Row.fetchOne(
            db,
            sql: """
                SELECT user, model_version, freeze_point, hyper_hash, samples, identity_hash, content_hash
                FROM device_batches WHERE device = ? AND seq = ?
                """,
            arguments: [device, sequence])
        {
            let stored = RegistryIndex.Batch(
                user: UserID(existing["user"]), stamps: Self.stamps(existing), samples: existing["samples"],
                lastRow: 0,
                fingerprint: (existing["identity_hash"] as String?).flatMap { id in
                    (existing["content_hash"] as String?).map { BatchFingerprint(identity: id, content: $0) }
                })
            if let conflict = ModelRegistryStateMachine.redeliveryConflict(
                stored: stored, offered: batch, fingerprint: fingerprint)
            {
                try recordConflict(
                    db, batch: batch, storedUser: stored.user, fingerprint: fingerprint, detail: conflict)
                return .conflict(conflict)
            }
            return .duplicate
        }
        try db.execute(
            sql: """
                INSERT INTO device_batches
                    (device, seq, user, model_version, freeze_point, hyper_hash, samples, stored_at,
                     identity_hash, content_hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                device, sequence, batch.user.rawValue, Int64(stamps.modelVersion.number), stamps.freezePoint.index,
                stamps.hyperParameterHash, batch.samples.count, Date(), fingerprint.identity, fingerprint.content,
            ])
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO features (user, device, device_seq, sample_id, label, model_version,
                    freeze_point, hyper_hash, activation, shape)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
        var rowIDs: [Int64] = []
        rowIDs.reserveCapacity(batch.samples.count)
        for sample in batch.samples {
            defer { rowIDs.append(db.lastInsertedRowID) }
            try insert.execute(arguments: [
                batch.user.rawValue, device, sequence, Int64(sample.sampleID), sample.label,
                Int64(stamps.modelVersion.number), stamps.freezePoint.index, stamps.hyperParameterHash,
                FloatBlob.encode(sample.activations.scalars), FloatBlob.encodeShape(sample.activations.shape),
            ])
        }
        return .stored(samples: batch.samples.count, lastRow: db.lastInsertedRowID, rowIDs: rowIDs)
    }

    static func recordConflict(
        _ db: Database, batch: FeatureBatch, storedUser: UserID, fingerprint: BatchFingerprint, detail: String
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO batch_conflicts (device, seq, stored_user, offered_user, offered_hash, detail, count, last_at)
                VALUES (?, ?, ?, ?, ?, ?, 1, ?)
                ON CONFLICT (device, seq, offered_hash) DO UPDATE SET count = count + 1, last_at = excluded.last_at
                """,
            arguments: [
                batch.device.rawValue, Int64(batch.sequence), storedUser.rawValue, batch.user.rawValue,
                fingerprint.content, detail, Date(),
            ])
    }

    /// Compare-and-set inside the caller's transaction (see ``commitHead(_:)``); on success also records
    /// `consumed` (only stored batches of the committing user) and returns the new head's index entry.
    static func writeHead(
        _ db: Database, _ commit: HeadCommit, consumed: [BatchKey]
    ) throws -> (CommitOutcome, RegistryIndex.Head?) {
        let current = try Row.fetchOne(
            db, sql: "SELECT version, hash FROM heads WHERE user = ? ORDER BY version DESC LIMIT 1",
            arguments: [commit.user.rawValue])
        let currentVersion = current.map { UInt64($0["version"] as Int64) } ?? 0
        guard currentVersion == commit.parentVersion else {
            return (.conflict(currentVersion: currentVersion, currentHash: current.map { $0["hash"] as String }), nil)
        }
        let version = commit.parentVersion + 1
        try db.execute(
            sql: """
                INSERT INTO heads (user, version, parent_version, freeze_point, model_version, hyper_hash,
                    hash, parameters, loss, samples, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                commit.user.rawValue, Int64(version), Int64(commit.parentVersion), commit.stamps.freezePoint.index,
                Int64(commit.stamps.modelVersion.number), commit.stamps.hyperParameterHash, commit.hash,
                FloatBlob.encode(commit.parameters), Double(commit.loss), commit.samples, Date(),
            ])
        for key in consumed where key.sequence <= UInt64(Int64.max) {
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO head_consumed (user, version, device, seq)
                    SELECT user, ?, device, seq FROM device_batches WHERE device = ? AND seq = ? AND user = ?
                    """,
                arguments: [Int64(version), key.device.rawValue, Int64(key.sequence), commit.user.rawValue])
        }
        let head = RegistryIndex.Head(
            version: version, parentVersion: commit.parentVersion, hash: commit.hash, stamps: commit.stamps,
            samples: commit.samples,
            trainedThrough: try trainedThrough(db, user: commit.user, stamps: commit.stamps, samples: commit.samples))
        return (.committed(version: version, hash: commit.hash), head)
    }

    /// Deletes `user`'s heads older than the newest `keep` versions (never the latest); returns how many.
    /// Their `head_consumed` rows are folded into the latest head's first so no acknowledgement is lost.
    static func pruneHeads(_ db: Database, user: UserID, keep: Int) throws -> Int {
        let keep = max(keep, 1)
        guard
            let latest = try Int64.fetchOne(
                db, sql: "SELECT MAX(version) FROM heads WHERE user = ?", arguments: [user.rawValue])
        else { return 0 }
        let cutoff = latest - Int64(keep)
        guard cutoff >= 1 else { return 0 }
        // A consumed batch stays acknowledged while a head with the same stamps is latest: keep its
        // record by moving it to a surviving head with those stamps, or drop it with its head.
        try db.execute(
            sql: """
                INSERT OR IGNORE INTO head_consumed (user, version, device, seq)
                SELECT c.user, ?, c.device, c.seq FROM head_consumed c JOIN heads h
                    ON h.user = c.user AND h.version = c.version
                JOIN heads l ON l.user = c.user AND l.version = ?
                WHERE c.user = ? AND c.version <= ? AND h.model_version = l.model_version
                    AND h.freeze_point = l.freeze_point AND h.hyper_hash = l.hyper_hash
                """,
            arguments: [latest, latest, user.rawValue, cutoff])
        try db.execute(
            sql: "DELETE FROM head_consumed WHERE user = ? AND version <= ?", arguments: [user.rawValue, cutoff])
        try db.execute(sql: "DELETE FROM heads WHERE user = ? AND version <= ?", arguments: [user.rawValue, cutoff])
        return db.changesCount
    }

    static func recordDeclined(_ db: Database, user: UserID, device: DeviceID, hash: String) throws {
        try db.execute(
            sql: """
                INSERT INTO heads_declined (user, device, hash, count, last_at) VALUES (?, ?, ?, 1, ?)
                ON CONFLICT (user, device, hash) DO UPDATE SET count = count + 1, last_at = excluded.last_at
                """,
            arguments: [user.rawValue, device.rawValue, hash, Date()])
    }

    /// Up to `limit` of `user`'s rows under `stamps` with id > `after`, oldest first; when more match,
    /// the *newest* `limit` of them (so a new batch always reaches the next head, issue #12 bug 1).
    public func featureWindow(_ user: UserID, stamps: FeatureStamps, after: Int64, limit: Int) throws -> [StoredFeature]
    {
        precondition(limit > 0, "a feature window needs a positive limit (got \(limit))")
        return try featureRows(
            user, stamps: stamps, after: after, limit: limit,
            select: { "SELECT * FROM (SELECT * FROM features WHERE \($0) ORDER BY id DESC LIMIT ?) ORDER BY id" })
    }

    public func featureListing(_ user: UserID, stamps: FeatureStamps, after: Int64, limit: Int) throws
        -> [StoredFeature]
    {
        precondition(limit > 0, "a feature listing needs a positive limit (got \(limit))")
        // Only the columns before `activation`: SQLite then never reads a row's overflow pages.
        let columns = "id, user, device, device_seq, sample_id, label, model_version, freeze_point, hyper_hash"
        return try featureRows(
            user, stamps: stamps, after: after, limit: limit,
            select: {
                "SELECT \(columns) FROM (SELECT \(columns) FROM features WHERE \($0) ORDER BY id DESC LIMIT ?) ORDER BY id"
            }, decode: Self.decodeListedFeature)
    }

    /// Runs `body` in one write transaction (group commit); for the storage thread.
    public func groupWrite<T>(_ body: (Database) throws -> T) throws -> T {
        try writeTransaction(body)
    }

    /// Runs `body` on a read snapshot; for the storage thread.
    public func snapshotRead<T>(_ body: (Database) throws -> T) throws -> T {
        try read(body)
    }

    /// `PRAGMA wal_checkpoint(mode)`, outside any transaction; returns (busy, log frames, checkpointed).
    @discardableResult
    public func checkpoint(truncate: Bool = false) throws -> (busy: Int, log: Int, checkpointed: Int) {
        try pool.writeWithoutTransaction { db in
            let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(\(truncate ? "TRUNCATE" : "PASSIVE"))")
            return (row?[0] ?? 0, row?[1] ?? 0, row?[2] ?? 0)
        }
    }
}

/// A `(device, seq)` pair.
public struct BatchKey: Hashable, Sendable {
    public var device: DeviceID
    public var sequence: UInt64
    public init(device: DeviceID, sequence: UInt64) {
        self.device = device
        self.sequence = sequence
    }
}
