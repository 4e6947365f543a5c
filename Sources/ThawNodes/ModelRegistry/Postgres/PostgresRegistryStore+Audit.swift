import Foundation
import Logging
import PostgresNIO
import ThawNN

extension PostgresRegistryStore {
    /// See ``RegistryStore/audit()``: the same checks, in one REPEATABLE READ snapshot, so an audit of a
    /// running cluster of registries sees one consistent database.
    public func audit() throws -> RegistryAudit {
        let logger = logger
        return try snapshot { connection in
            let index = try await Self.loadIndex(connection, logger)
            let (batchCount, untrained, superseded, sequences) = RegistryAudit.walk(index)
            let duplicates = try await connection.rows(
                """
                SELECT device, sample_id, freeze_point FROM features
                GROUP BY device, sample_id, model_version, freeze_point, hyper_hash HAVING COUNT(*) > 1
                """, logger
            ).map { "\(try $0.string("device")):\(try $0.int64("sample_id"))@\(try $0.int("freeze_point"))" }
            let conflicts = try await connection.rows(
                "SELECT device, seq, offered_user, detail, count FROM batch_conflicts ORDER BY device, seq", logger
            ).map { row in
                "\(try row.string("device"))#\(try row.int64("seq")): \(try row.string("detail")) (offered by \(try row.string("offered_user")), \(try row.int("count"))×)"
            }
            var inconsistent = try await connection.rows(
                """
                SELECT b.device, b.seq, b.samples, COUNT(f.id) AS rows,
                    COUNT(f.id) FILTER (WHERE f.user_id <> b.user_id) AS foreign_rows
                FROM device_batches b LEFT JOIN features f
                    ON f.device = b.device AND f.device_seq = b.seq AND f.freeze_point = b.freeze_point
                        AND f.model_version = b.model_version AND f.hyper_hash = b.hyper_hash
                GROUP BY b.device, b.seq, b.samples
                HAVING COUNT(f.id) <> b.samples OR COUNT(f.id) FILTER (WHERE f.user_id <> b.user_id) > 0
                """, logger
            ).map { row in
                "\(try row.string("device"))#\(try row.int64("seq")): \(try row.int("rows")) rows for \(try row.int("samples")) samples, \(try row.int("foreign_rows")) of another user"
            }
            inconsistent += try await Self.fingerprintMismatches(connection, logger)
            var latest: [String: UInt64] = [:]
            for (user, head) in index.heads { latest[user.rawValue] = head.version }
            let totals = try await connection.rows(
                """
                SELECT (SELECT COUNT(*) FROM features) AS features, (SELECT COUNT(*) FROM heads) AS heads,
                    (SELECT COALESCE(SUM(count), 0)::BIGINT FROM heads_declined) AS declined
                """, logger)[0]
            return RegistryAudit(
                batches: batchCount, featureRows: try totals.int("features"), heads: try totals.int("heads"),
                usersWithHeads: latest.count, untrained: untrained, superseded: superseded,
                duplicateSamples: duplicates, latestHeadVersions: latest, sequencesByDevice: sequences,
                conflicts: conflicts, inconsistentBatches: inconsistent, headsDeclined: try totals.int("declined"))
        }
    }

    /// Batches whose stored rows no longer hash to the fingerprint recorded when they were stored.
    static func fingerprintMismatches(_ connection: PostgresConnection, _ logger: Logger) async throws -> [String] {
        var mismatches: [String] = []
        let batches = try await connection.rows(
            """
            SELECT device, seq, user_id, model_version, freeze_point, hyper_hash, content_hash FROM device_batches
            WHERE content_hash IS NOT NULL
            """, logger)
        for row in batches {
            let device = try row.string("device")
            let seq = try row.int64("seq")
            let stamps = try row.stamps()
            let samples = try await connection.rows(
                """
                SELECT * FROM features WHERE device = \(device) AND device_seq = \(seq)
                    AND freeze_point = \(Int64(stamps.freezePoint.index))
                    AND model_version = \(Int64(stamps.modelVersion.number)) AND hyper_hash = \(stamps.hyperParameterHash)
                ORDER BY id
                """, logger
            ).map(decodeFeature).map {
                FeatureSample(sampleID: $0.sampleID, label: $0.label, activations: $0.activations)
            }
            let batch = FeatureBatch(
                user: UserID(try row.string("user_id")), device: DeviceID(device), sequence: UInt64(seq), stamps: stamps,
                samples: samples)
            if BatchFingerprint(batch).content != (try row.string("content_hash")) {
                mismatches.append("\(device)#\(seq): rows do not hash to the stored content fingerprint")
            }
        }
        return mismatches
    }
}
