import Foundation
import GRDB
import ThawNN

extension RegistryStore {
    /// The sequence numbers of `device` that are durable, ascending. A device that lost its own state
    /// can resume from these; a gap means a batch that never arrived.
    public func durableSequences(device: DeviceID) throws -> [UInt64] {
        try read { db in
            try Int64.fetchAll(
                db, sql: "SELECT seq FROM device_batches WHERE device = ? ORDER BY seq", arguments: [device.rawValue]
            ).map { UInt64($0) }
        }
    }
}

extension RegistryStore {
    /// The id of the last feature row the user's latest head was trained on, and that head's stamps;
    /// nil when the user has no head.
    ///
    /// A worker trains on the first `samples` rows of the user under the head's stamps, in id order (the
    /// registry serves rows in that order and only appends), so the training set of a head that reports
    /// `samples = n` is exactly the user's first n rows under its stamps: it ends at the n-th row's id.
    func trainedThrough(_ db: Database, user: String) throws -> (id: Int64, stamps: FeatureStamps)? {
        guard
            let head = try Row.fetchOne(
                db,
                sql: """
                    SELECT model_version, freeze_point, hyper_hash, samples FROM heads
                    WHERE user = ? ORDER BY version DESC LIMIT 1
                    """,
                arguments: [user])
        else { return nil }
        let stamps = FeatureStamps(
            modelVersion: ModelVersion(UInt64(head["model_version"] as Int64)), freezePoint: FreezePoint(head["freeze_point"]),
            hyperParameterHash: head["hyper_hash"])
        let samples: Int64 = head["samples"]
        guard samples > 0 else { return (0, stamps) }
        let last = try Int64.fetchOne(
            db,
            sql: """
                SELECT id FROM features WHERE user = ? AND model_version = ? AND freeze_point = ? AND hyper_hash = ?
                ORDER BY id LIMIT 1 OFFSET ?
                """,
            arguments: [
                user, Int64(stamps.modelVersion.number), stamps.freezePoint.index, stamps.hyperParameterHash,
                samples - 1,
            ])
        // Fewer rows than the head claims cannot happen (rows are never deleted); treat it as "all".
        return (last ?? Int64.max, stamps)
    }

    /// The sequence numbers of `device`'s stored batches that a device may drop from its outbox: those
    /// already trained into the user's latest head, and those stamped differently from the deployment
    /// the device is on (`modelVersion`, `freezePoint`), which it re-computes and re-sends anyway.
    ///
    /// A batch that is stored but not yet in a committed head is *not* listed: a worker killed between
    /// storing and committing would otherwise leave it durable but never trained. The device re-sends
    /// it, and the worker that gets it trains it (see ``isTrained(device:sequence:)``).
    public func acknowledgedSequences(
        device: DeviceID, modelVersion: ModelVersion, freezePoint: FreezePoint
    ) throws -> [UInt64] {
        try read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT b.seq, b.user, b.model_version, b.freeze_point, b.hyper_hash,
                        (SELECT MAX(f.id) FROM features f
                         WHERE f.device = b.device AND f.device_seq = b.seq AND f.freeze_point = b.freeze_point)
                            AS last_id
                    FROM device_batches b WHERE b.device = ? ORDER BY b.seq
                    """,
                arguments: [device.rawValue])
            var trained: [String: (id: Int64, stamps: FeatureStamps)?] = [:]
            var acknowledged: [UInt64] = []
            for row in rows {
                let seq = UInt64(row["seq"] as Int64)
                let version = UInt64(row["model_version"] as Int64)
                let point: Int = row["freeze_point"]
                guard version == modelVersion.number, point == freezePoint.index else {
                    acknowledged.append(seq)
                    continue
                }
                let user: String = row["user"]
                if trained[user] == nil { trained[user] = .some(try trainedThrough(db, user: user)) }
                guard let head = trained[user] ?? nil else { continue }
                let lastID: Int64 = (row["last_id"] as Int64?) ?? 0
                let hyper: String = row["hyper_hash"]
                if head.stamps.modelVersion.number == version, head.stamps.freezePoint.index == point,
                    head.stamps.hyperParameterHash == hyper, lastID <= head.id
                {
                    acknowledged.append(seq)
                }
            }
            return acknowledged
        }
    }

    /// Whether stored batch `(device, sequence)` is in the training set of its user's latest head.
    public func isTrained(device: DeviceID, sequence: UInt64) throws -> Bool {
        try read { db in
            guard
                let batch = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT b.user, b.model_version, b.freeze_point, b.hyper_hash,
                            (SELECT MAX(f.id) FROM features f
                             WHERE f.device = b.device AND f.device_seq = b.seq AND f.freeze_point = b.freeze_point)
                                AS last_id
                        FROM device_batches b WHERE b.device = ? AND b.seq = ?
                        """,
                    arguments: [device.rawValue, Int64(sequence)]),
                let head = try trainedThrough(db, user: batch["user"])
            else { return false }
            let lastID: Int64 = (batch["last_id"] as Int64?) ?? 0
            return head.stamps.modelVersion.number == UInt64(batch["model_version"] as Int64)
                && head.stamps.freezePoint.index == (batch["freeze_point"] as Int)
                && head.stamps.hyperParameterHash == (batch["hyper_hash"] as String) && lastID <= head.id
        }
    }
}
