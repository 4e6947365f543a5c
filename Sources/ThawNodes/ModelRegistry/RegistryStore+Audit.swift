import GRDB
import ThawNN

/// What the registry's database says about the exactly-once promise, for fault tests and the load
/// script: every stored batch should be in its user's latest head, and no sample of a device should be
/// stored twice under the same stamps.
public struct RegistryAudit: Sendable, Equatable, Codable {
    /// Stored `(device, seq)` rows.
    public var batches: Int
    /// Stored feature rows (samples).
    public var featureRows: Int
    /// Committed head versions, all users.
    public var heads: Int
    /// Users with at least one head.
    public var usersWithHeads: Int
    /// Stored batches stamped like their user's latest head but not in its training set, or whose user
    /// has no head, as `device#seq`.
    public var untrained: [String]
    /// Stored batches stamped for another deployment than their user's latest head (left behind by a
    /// freeze-point or model move; their samples are re-sent under the new stamps).
    public var superseded: Int
    /// Samples a device got stored more than once under the same stamps, as `device:sample@k` (each
    /// would be trained more than once).
    public var duplicateSamples: [String]
    /// Every user's latest head version.
    public var latestHeadVersions: [String: UInt64]
    /// Every device's stored sequence numbers, ascending.
    public var sequencesByDevice: [String: [UInt64]]
    /// Refused redeliveries: another batch offered under a stored `(device, seq)` (issue #12, bug 2), as
    /// `device#seq: detail (user, n×)`. Each is a batch its device believes sent but that was never kept:
    /// the device must re-send it under a new sequence.
    public var conflicts: [String] = []
    /// Stored batches whose rows do not match their batch row (another user, another sample count, or
    /// a content fingerprint that does not recompute), as `device#seq: why`.
    public var inconsistentBatches: [String] = []
    /// Head pulls in which a device reported declining a head (`HeadRequest.declined_hash`), in all.
    public var headsDeclined: Int = 0

    /// Nothing lost, nothing twice, nothing inconsistent.
    public var isClean: Bool {
        untrained.isEmpty && duplicateSamples.isEmpty && conflicts.isEmpty && inconsistentBatches.isEmpty
    }
}

extension RegistryAudit {
    /// The part of the audit the index decides, shared by both backends: batch count, untrained batches
    /// (as `device#seq`, sorted), superseded batches and every device's sequences.
    static func walk(_ index: RegistryIndex) -> (
        batches: Int, untrained: [String], superseded: Int, sequences: [String: [UInt64]]
    ) {
        var untrained: [String] = []
        var superseded = 0
        var sequences: [String: [UInt64]] = [:]
        var batchCount = 0
        for (device, batches) in index.batches {
            for (seq, batch) in batches {
                batchCount += 1
                sequences[device.rawValue, default: []].append(seq)
                guard let head = index.heads[batch.user] else {
                    untrained.append("\(device)#\(seq)")
                    continue
                }
                if head.stamps != batch.stamps {
                    superseded += 1
                } else if !index.isTrained(batch) {
                    untrained.append("\(device)#\(seq)")
                }
            }
        }
        for key in sequences.keys { sequences[key]?.sort() }
        return (batchCount, untrained.sorted(), superseded, sequences)
    }
}

extension RegistryStore {
    /// Reads the whole database once and checks it (see ``RegistryAudit``). "Trained" is decided as the
    /// registry decides acknowledgements (``RegistryIndex/isTrained(_:)``).
    public func audit() throws -> RegistryAudit {
        let index = try loadIndex()
        return try read { db in
            let (batchCount, untrained, superseded, sequences) = RegistryAudit.walk(index)
            let duplicates = try Row.fetchAll(
                db,
                sql: """
                    SELECT device, sample_id, freeze_point FROM features
                    GROUP BY device, sample_id, model_version, freeze_point, hyper_hash HAVING COUNT(*) > 1
                    """
            ).map { row -> String in
                "\(row["device"] as String):\(row["sample_id"] as Int64)@\(row["freeze_point"] as Int)"
            }
            let conflicts = try Row.fetchAll(
                db, sql: "SELECT device, seq, offered_user, detail, count FROM batch_conflicts ORDER BY device, seq"
            ).map { row -> String in
                "\(row["device"] as String)#\(row["seq"] as Int64): \(row["detail"] as String) (offered by \(row["offered_user"] as String), \(row["count"] as Int)×)"
            }
            var inconsistent: [String] = []
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT b.device, b.seq, b.samples, COUNT(f.id) AS rows, SUM(f.user != b.user) AS foreign_rows
                    FROM device_batches b LEFT JOIN features f
                        ON f.device = b.device AND f.device_seq = b.seq AND f.freeze_point = b.freeze_point
                            AND f.model_version = b.model_version AND f.hyper_hash = b.hyper_hash
                    GROUP BY b.device, b.seq
                    HAVING rows != b.samples OR foreign_rows > 0
                    """)
            {
                inconsistent.append(
                    "\(row["device"] as String)#\(row["seq"] as Int64): \(row["rows"] as Int) rows for \(row["samples"] as Int) samples, \((row["foreign_rows"] as Int?) ?? 0) of another user"
                )
            }
            inconsistent += try Self.fingerprintMismatches(db)
            var latest: [String: UInt64] = [:]
            for (user, head) in index.heads { latest[user.rawValue] = head.version }
            return RegistryAudit(
                batches: batchCount,
                featureRows: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM features") ?? 0,
                heads: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM heads") ?? 0,
                usersWithHeads: latest.count, untrained: untrained, superseded: superseded,
                duplicateSamples: duplicates, latestHeadVersions: latest, sequencesByDevice: sequences,
                conflicts: conflicts, inconsistentBatches: inconsistent,
                headsDeclined: try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(count), 0) FROM heads_declined") ?? 0)
        }
    }

    /// Batches whose stored rows no longer hash to the fingerprint recorded when they were stored.
    static func fingerprintMismatches(_ db: Database) throws -> [String] {
        var mismatches: [String] = []
        let batches = try Row.fetchAll(
            db,
            sql: """
                SELECT device, seq, user, model_version, freeze_point, hyper_hash, content_hash FROM device_batches
                WHERE content_hash IS NOT NULL
                """)
        for row in batches {
            let device: String = row["device"]
            let seq: Int64 = row["seq"]
            let stamps = Self.stamps(row)
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM features WHERE device = ? AND device_seq = ? AND freeze_point = ?
                        AND model_version = ? AND hyper_hash = ? ORDER BY id
                    """,
                arguments: [
                    device, seq, stamps.freezePoint.index, Int64(stamps.modelVersion.number), stamps.hyperParameterHash,
                ])
            let samples = try rows.map(Self.decodeFeature).map {
                FeatureSample(sampleID: $0.sampleID, label: $0.label, activations: $0.activations)
            }
            let batch = FeatureBatch(
                user: UserID(row["user"]), device: DeviceID(device), sequence: UInt64(seq), stamps: stamps,
                samples: samples)
            if BatchFingerprint(batch).content != (row["content_hash"] as String) {
                mismatches.append("\(device)#\(seq): rows do not hash to the stored content fingerprint")
            }
        }
        return mismatches
    }
}
