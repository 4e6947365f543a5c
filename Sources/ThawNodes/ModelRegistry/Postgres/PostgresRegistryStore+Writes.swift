import Foundation
import Logging
import NIOCore
import PostgresNIO
import ThawNN

extension PostgresRegistryStore {
    public func applyWrites(_ writes: [RegistryWrite]) throws -> [RegistryWriteResult] {
        guard !writes.isEmpty else { return [] }
        let logger = logger
        // Users whose feature rows this transaction inserts, locked in one order so that two registries'
        // group commits cannot deadlock on each other's users.
        let users = Set(
            writes.compactMap { write -> String? in
                if case .storeBatch(let batch, _) = write { return batch.user.rawValue }
                return nil
            }
        ).sorted()
        // Optimistic first: the whole group without savepoints (two round trips fewer per write). A write
        // the database refuses (a constraint; a racing registry) aborts that transaction; then the group
        // runs again with a savepoint per write, so that only the refused write is rolled back.
        do {
            return try transaction { connection in
                try await Self.lockUsers(users, connection, logger)
                var results: [RegistryWriteResult] = []
                results.reserveCapacity(writes.count)
                for write in writes { results.append(try await Self.apply(write, connection, logger)) }
                return results
            }
        } catch where error is RegistryError || error.integrityViolation != nil {
            return try transaction { connection in
                try await Self.lockUsers(users, connection, logger)
                var results: [RegistryWriteResult] = []
                results.reserveCapacity(writes.count)
                for write in writes {
                    results.append(try await Self.applyInSavepoint(write, connection, logger))
                }
                return results
            }
        }
    }

    /// Takes the per-user advisory transaction locks of `users` (sorted) in one round trip.
    static func lockUsers(_ users: [String], _ connection: PostgresConnection, _ logger: Logger) async throws {
        guard !users.isEmpty else { return }
        try await connection.run(
            """
            SELECT pg_advisory_xact_lock(key) FROM (
                SELECT hashtextextended(u, 0) AS key, u FROM UNNEST(\(users)::TEXT[]) AS u ORDER BY u) ordered
            """, logger)
    }

    /// One write in its own savepoint: a refused write is rolled back alone. A unique violation means
    /// another registry committed the same key while this transaction was deciding: once its row is
    /// visible (it is, after the violation), the write is decided again and comes back `duplicate`,
    /// `conflict` or compare-and-set `conflict`.
    static func applyInSavepoint(_ write: RegistryWrite, _ connection: PostgresConnection, _ logger: Logger)
        async throws -> RegistryWriteResult
    {
        var retried = false
        while true {
            try await connection.run("SAVEPOINT thaw_write", logger)
            do {
                let result = try await apply(write, connection, logger)
                try await connection.run("RELEASE SAVEPOINT thaw_write", logger)
                return result
            } catch let error as RegistryError {
                try await connection.run("ROLLBACK TO SAVEPOINT thaw_write", logger)
                try await connection.run("RELEASE SAVEPOINT thaw_write", logger)
                return .refused("\(error)")
            } catch where error.integrityViolation != nil {
                try await connection.run("ROLLBACK TO SAVEPOINT thaw_write", logger)
                try await connection.run("RELEASE SAVEPOINT thaw_write", logger)
                if error.integrityViolation == "23505" && !retried {
                    retried = true
                    continue
                }
                return .refused(
                    "PostgreSQL refused the write (SQLSTATE \(error.integrityViolation ?? "?")): \(String(reflecting: error))")
            }
        }
    }

    static func apply(_ write: RegistryWrite, _ connection: PostgresConnection, _ logger: Logger) async throws
        -> RegistryWriteResult
    {
        switch write {
        case .storeBatch(let batch, let fingerprint):
            return .batch(try await writeBatch(batch, fingerprint: fingerprint, connection, logger))
        case .commitHead(let commit, let consumed, let keepHeads):
            let (outcome, head) = try await writeHead(commit, consumed: consumed, connection, logger)
            var pruned = 0
            if case .committed = outcome, let keepHeads {
                pruned = try await pruneHeads(user: commit.user, keep: keepHeads + 1, connection, logger)
            }
            return .commit(outcome, head, pruned: pruned)
        case .recordConflict(let batch, let storedUser, let fingerprint, let detail):
            try await recordConflict(
                batch: batch, storedUser: storedUser, fingerprint: fingerprint, detail: detail, connection, logger)
            return .recorded
        case .recordDeclined(let user, let device, let hash):
            try await connection.run(
                """
                INSERT INTO heads_declined (user_id, device, hash, count, last_at)
                VALUES (\(user.rawValue), \(device.rawValue), \(hash), 1, \(Date()))
                ON CONFLICT (user_id, device, hash)
                DO UPDATE SET count = heads_declined.count + 1, last_at = excluded.last_at
                """, logger)
            return .recorded
        }
    }

    static func checkedInt64(_ value: UInt64, _ what: String) throws(RegistryError) -> Int64 {
        guard value <= UInt64(Int64.max) else { throw RegistryError(.valueOutOfRange, "\(what) \(value) exceeds Int64.max") }
        return Int64(value)
    }

    /// See ``RegistryStore/writeBatch(_:_:fingerprint:)``: the same decisions, the rows in one statement.
    static func writeBatch(
        _ batch: FeatureBatch, fingerprint: BatchFingerprint, _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> BatchWrite {
        let device = batch.device.rawValue
        let sequence = try checkedInt64(batch.sequence, "device sequence")
        let stamps = batch.stamps
        let modelVersion = try checkedInt64(stamps.modelVersion.number, "model version")
        // Insert the key unless present (one round trip in the common case); only a redelivery reads what
        // is stored to compare fingerprints.
        let inserted = try await connection.rows(
            """
            INSERT INTO device_batches
                (device, seq, user_id, model_version, freeze_point, hyper_hash, samples, stored_at,
                 identity_hash, content_hash)
            VALUES (\(device), \(sequence), \(batch.user.rawValue), \(modelVersion),
                \(Int64(stamps.freezePoint.index)), \(stamps.hyperParameterHash), \(Int64(batch.samples.count)),
                \(Date()), \(fingerprint.identity), \(fingerprint.content))
            ON CONFLICT (device, seq) DO NOTHING
            RETURNING seq
            """, logger)
        if inserted.isEmpty, let existing = try await connection.rows(
            """
            SELECT user_id, model_version, freeze_point, hyper_hash, samples, identity_hash, content_hash
            FROM device_batches WHERE device = \(device) AND seq = \(sequence)
            """, logger
        ).first {
            let identity = try existing.optionalString("identity_hash")
            let content = try existing.optionalString("content_hash")
            let stored = RegistryIndex.Batch(
                user: UserID(try existing.string("user_id")), stamps: try existing.stamps(),
                samples: try existing.int("samples"), lastRow: 0,
                fingerprint: identity.flatMap { id in content.map { BatchFingerprint(identity: id, content: $0) } })
            if let conflict = ModelRegistryStateMachine.redeliveryConflict(
                stored: stored, offered: batch, fingerprint: fingerprint)
            {
                try await recordConflict(
                    batch: batch, storedUser: stored.user, fingerprint: fingerprint, detail: conflict, connection, logger)
                return .conflict(conflict)
            }
            return .duplicate
        }
        guard !inserted.isEmpty else {
            // Not inserted and not found: deleted in between (nothing deletes batches); refuse, keep nothing.
            throw RegistryError(.corruptRow, "\(device)#\(sequence) neither inserted nor found")
        }
        var sampleIDs: [Int64] = []
        var labels: [Int64] = []
        var activations: [ByteBuffer] = []
        var shapes: [String] = []
        for sample in batch.samples {
            sampleIDs.append(try checkedInt64(sample.sampleID, "sample id"))
            labels.append(Int64(sample.label))
            activations.append(ByteBuffer(bytes: FloatBlob.encode(sample.activations.scalars)))
            shapes.append(FloatBlob.encodeShape(sample.activations.shape))
        }
        // Rows go in in the batch's order (WITH ORDINALITY), so ids follow the samples as in SQLite.
        let ids = try await connection.rows(
            """
            INSERT INTO features (user_id, device, device_seq, sample_id, label, model_version,
                freeze_point, hyper_hash, activation, shape)
            SELECT \(batch.user.rawValue), \(device), \(sequence), t.sample_id, t.label, \(modelVersion),
                \(Int64(stamps.freezePoint.index)), \(stamps.hyperParameterHash), t.activation, t.shape
            FROM UNNEST(\(sampleIDs)::BIGINT[], \(labels)::BIGINT[], \(activations)::BYTEA[], \(shapes)::TEXT[])
                WITH ORDINALITY AS t(sample_id, label, activation, shape, n)
            ORDER BY t.n
            RETURNING id
            """, logger
        ).map { try $0.int64("id") }
        return .stored(samples: batch.samples.count, lastRow: ids.max() ?? 0, rowIDs: ids)
    }

    static func recordConflict(
        batch: FeatureBatch, storedUser: UserID, fingerprint: BatchFingerprint, detail: String,
        _ connection: PostgresConnection, _ logger: Logger
    ) async throws {
        try await connection.run(
            """
            INSERT INTO batch_conflicts (device, seq, stored_user, offered_user, offered_hash, detail, count, last_at)
            VALUES (\(batch.device.rawValue), \(try checkedInt64(batch.sequence, "device sequence")),
                \(storedUser.rawValue), \(batch.user.rawValue), \(fingerprint.content), \(detail), 1, \(Date()))
            ON CONFLICT (device, seq, offered_hash)
            DO UPDATE SET count = batch_conflicts.count + 1, last_at = excluded.last_at
            """, logger)
    }

    /// Compare-and-set (see ``RegistryStore/writeHead(_:_:consumed:)``). Two registries reading the same
    /// parent both try to insert `parent + 1`; the primary key lets one in and the other re-decides
    /// (``applyInSavepoint(_:_:_:)``) and answers `conflict` with the winner's version.
    static func writeHead(
        _ commit: HeadCommit, consumed: [BatchKey], _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> (CommitOutcome, RegistryIndex.Head?) {
        let user = commit.user.rawValue
        let current = try await connection.rows(
            "SELECT version, hash FROM heads WHERE user_id = \(user) ORDER BY version DESC LIMIT 1", logger
        ).first
        let currentVersion = try current.map { UInt64(try $0.int64("version")) } ?? 0
        guard currentVersion == commit.parentVersion else {
            return (.conflict(currentVersion: currentVersion, currentHash: try current.map { try $0.string("hash") }), nil)
        }
        let version = commit.parentVersion + 1
        let stamps = commit.stamps
        try await connection.run(
            """
            INSERT INTO heads (user_id, version, parent_version, freeze_point, model_version, hyper_hash,
                hash, parameters, loss, samples, created_at)
            VALUES (\(user), \(try checkedInt64(version, "head version")), \(Int64(commit.parentVersion)),
                \(Int64(stamps.freezePoint.index)), \(try checkedInt64(stamps.modelVersion.number, "model version")),
                \(stamps.hyperParameterHash), \(commit.hash), \(FloatBlob.encode(commit.parameters)),
                \(Double(commit.loss)), \(Int64(commit.samples)), \(Date()))
            """, logger)
        for key in consumed where key.sequence <= UInt64(Int64.max) {
            try await connection.run(
                """
                INSERT INTO head_consumed (user_id, version, device, seq)
                SELECT user_id, \(Int64(version)), device, seq FROM device_batches
                WHERE device = \(key.device.rawValue) AND seq = \(Int64(key.sequence)) AND user_id = \(user)
                ON CONFLICT DO NOTHING
                """, logger)
        }
        let head = RegistryIndex.Head(
            version: version, parentVersion: commit.parentVersion, hash: commit.hash, stamps: stamps,
            samples: commit.samples,
            trainedThrough: try await trainedThrough(commit.user, stamps: stamps, samples: commit.samples, connection, logger))
        return (.committed(version: version, hash: commit.hash), head)
    }

    /// The id of `user`'s `samples`-th row under `stamps` (0 for none; `Int64.max` when fewer rows exist).
    static func trainedThrough(
        _ user: UserID, stamps: FeatureStamps, samples: Int, _ connection: PostgresConnection, _ logger: Logger
    ) async throws -> Int64 {
        guard samples > 0 else { return 0 }
        let row = try await connection.rows(
            """
            SELECT id FROM features
            WHERE user_id = \(user.rawValue) AND model_version = \(Int64(stamps.modelVersion.number))
                AND freeze_point = \(Int64(stamps.freezePoint.index)) AND hyper_hash = \(stamps.hyperParameterHash)
            ORDER BY id LIMIT 1 OFFSET \(Int64(samples - 1))
            """, logger
        ).first
        return try row.map { try $0.int64("id") } ?? Int64.max
    }

    /// See ``RegistryStore/pruneHeads(_:user:keep:)``.
    static func pruneHeads(user: UserID, keep: Int, _ connection: PostgresConnection, _ logger: Logger) async throws
        -> Int
    {
        let keep = max(keep, 1)
        guard
            let latest = try await connection.rows(
                "SELECT MAX(version) AS latest FROM heads WHERE user_id = \(user.rawValue)", logger
            ).first.flatMap({ try $0.optionalInt64("latest") })
        else { return 0 }
        let cutoff = latest - Int64(keep)
        guard cutoff >= 1 else { return 0 }
        try await connection.run(
            """
            INSERT INTO head_consumed (user_id, version, device, seq)
            SELECT c.user_id, \(latest), c.device, c.seq FROM head_consumed c
            JOIN heads h ON h.user_id = c.user_id AND h.version = c.version
            JOIN heads l ON l.user_id = c.user_id AND l.version = \(latest)
            WHERE c.user_id = \(user.rawValue) AND c.version <= \(cutoff) AND h.model_version = l.model_version
                AND h.freeze_point = l.freeze_point AND h.hyper_hash = l.hyper_hash
            ON CONFLICT DO NOTHING
            """, logger)
        try await connection.run(
            "DELETE FROM head_consumed WHERE user_id = \(user.rawValue) AND version <= \(cutoff)", logger)
        let deleted = try await connection.rows(
            """
            WITH deleted AS (DELETE FROM heads WHERE user_id = \(user.rawValue) AND version <= \(cutoff) RETURNING 1)
            SELECT COUNT(*) AS n FROM deleted
            """, logger)
        return try deleted.first.map { try $0.int("n") } ?? 0
    }
}
