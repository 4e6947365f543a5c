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
}

extension RegistryStore {
    /// Reads the whole database once and checks it (see ``RegistryAudit``).
    public func audit() throws -> RegistryAudit {
        try read { db in
            let batches = try Row.fetchAll(
                db,
                sql: """
                    SELECT b.device, b.seq, b.user, b.model_version, b.freeze_point, b.hyper_hash,
                        (SELECT MAX(f.id) FROM features f
                         WHERE f.device = b.device AND f.device_seq = b.seq AND f.freeze_point = b.freeze_point)
                            AS last_id
                    FROM device_batches b ORDER BY b.device, b.seq
                    """)
            var trained: [String: (id: Int64, stamps: FeatureStamps)?] = [:]
            var untrained: [String] = []
            var superseded = 0
            var sequences: [String: [UInt64]] = [:]
            for row in batches {
                let device: String = row["device"]
                let seq = UInt64(row["seq"] as Int64)
                let user: String = row["user"]
                sequences[device, default: []].append(seq)
                if trained[user] == nil { trained[user] = .some(try trainedThrough(db, user: user)) }
                guard let head = trained[user] ?? nil else {
                    untrained.append("\(device)#\(seq)")
                    continue
                }
                let sameStamps =
                    head.stamps.modelVersion.number == UInt64(row["model_version"] as Int64)
                    && head.stamps.freezePoint.index == (row["freeze_point"] as Int)
                    && head.stamps.hyperParameterHash == (row["hyper_hash"] as String)
                if !sameStamps {
                    superseded += 1
                } else if (row["last_id"] as Int64? ?? 0) > head.id {
                    untrained.append("\(device)#\(seq)")
                }
            }
            let duplicates = try Row.fetchAll(
                db,
                sql: """
                    SELECT device, sample_id, freeze_point FROM features
                    GROUP BY device, sample_id, model_version, freeze_point, hyper_hash HAVING COUNT(*) > 1
                    """
            ).map { row -> String in
                "\(row["device"] as String):\(row["sample_id"] as Int64)@\(row["freeze_point"] as Int)"
            }
            var latest: [String: UInt64] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT user, MAX(version) AS version FROM heads GROUP BY user") {
                latest[row["user"]] = UInt64(row["version"] as Int64)
            }
            return RegistryAudit(
                batches: batches.count,
                featureRows: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM features") ?? 0,
                heads: try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM heads") ?? 0,
                usersWithHeads: latest.count, untrained: untrained, superseded: superseded,
                duplicateSamples: duplicates, latestHeadVersions: latest, sequencesByDevice: sequences)
        }
    }
}
