import Foundation
import GRDB
import ThawNN

/// A device's batch that a worker refused, as recorded for the device to collect.
public struct RecordedRejection: Hashable, Sendable {
    public var device: DeviceID
    public var sequence: UInt64
    public var reason: RejectReason
    /// The worker's deployment when it refused the batch.
    public var current: DeploymentState
    public var detail: String

    public init(device: DeviceID, sequence: UInt64, reason: RejectReason, current: DeploymentState, detail: String) {
        self.device = device
        self.sequence = sequence
        self.reason = reason
        self.current = current
        self.detail = detail
    }
}

extension RegistryStore {
    /// The next page of rows the cloud must advance to `target`, oldest first.
    ///
    /// A row qualifies when it has the target's model version and hyper-parameters, a shallower freeze
    /// point, no row of the same user and sample exists at the target yet, and it is the deepest such
    /// row of that sample (the latest upload on a tie), so each sample is advanced once and through the
    /// fewest layers. Rows advanced earlier drop out of the list, which is what makes a job resumable
    /// after a crash; `after` lets one job skip rows it could not advance (a shape the model refuses).
    ///
    /// Unlike ``featuresToAdvance(from:to:user:after:limit:)`` (one source point, identity by batch),
    /// this asks by sample: after a shallower move and a move back, a sample may have rows at several
    /// points from several batches, and the target must still get it once.
    public func samplesToAdvance(to target: FeatureStamps, after: Int64 = 0, limit: Int) throws -> [StoredFeature] {
        precondition(limit > 0, "a feature page needs a positive limit (got \(limit))")
        let version = Int64(target.modelVersion.number)
        let hyper = target.hyperParameterHash
        let point = target.freezePoint.index
        return try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT s.* FROM features s
                    WHERE s.model_version = ? AND s.hyper_hash = ? AND s.freeze_point < ? AND s.id > ?
                      AND NOT EXISTS (
                        SELECT 1 FROM features t
                        WHERE t.user = s.user AND t.sample_id = s.sample_id AND t.model_version = s.model_version
                          AND t.hyper_hash = s.hyper_hash AND t.freeze_point = ?)
                      AND NOT EXISTS (
                        SELECT 1 FROM features d
                        WHERE d.user = s.user AND d.sample_id = s.sample_id AND d.model_version = s.model_version
                          AND d.hyper_hash = s.hyper_hash AND d.freeze_point < ?
                          AND (d.freeze_point > s.freeze_point OR (d.freeze_point = s.freeze_point AND d.id > s.id)))
                    ORDER BY s.id LIMIT ?
                    """,
                arguments: [version, hyper, point, after, point, point, limit]
            ).map(Self.decodeFeature)
        }
    }

    /// Of `sampleIDs`, those `user` has no feature row for under `stamps`, ascending: what a device must
    /// recompute and upload after a shallower move.
    public func missingSamples(_ user: UserID, stamps: FeatureStamps, among sampleIDs: [UInt64]) throws -> [UInt64] {
        guard !sampleIDs.isEmpty else { return [] }
        let held: Set<UInt64> = try read { db in
            var held: Set<UInt64> = []
            let probe = try db.makeStatement(
                sql: """
                    SELECT EXISTS (SELECT 1 FROM features WHERE user = ? AND sample_id = ? AND model_version = ?
                        AND hyper_hash = ? AND freeze_point = ?)
                    """)
            for id in Set(sampleIDs) where id <= UInt64(Int64.max) {
                let exists =
                    try Bool.fetchOne(
                        probe,
                        arguments: [
                            user.rawValue, Int64(id), Int64(stamps.modelVersion.number), stamps.hyperParameterHash,
                            stamps.freezePoint.index,
                        ]) ?? false
                if exists { held.insert(id) }
            }
            return held
        }
        return Set(sampleIDs).subtracting(held).sorted()
    }

    /// Users with feature rows under `stamps` whose newest head was trained under other stamps (or who
    /// have none): after the cloud advanced their rows, a worker must train them.
    public func usersNeedingHeads(at stamps: FeatureStamps) throws -> [UserID] {
        try read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT f.user FROM features f
                    WHERE f.model_version = ? AND f.freeze_point = ? AND f.hyper_hash = ?
                      AND NOT EXISTS (
                        SELECT 1 FROM heads h
                        WHERE h.user = f.user AND h.model_version = f.model_version
                          AND h.freeze_point = f.freeze_point AND h.hyper_hash = f.hyper_hash
                          AND h.version = (SELECT MAX(version) FROM heads WHERE user = f.user))
                    ORDER BY f.user
                    """,
                arguments: [
                    Int64(stamps.modelVersion.number), stamps.freezePoint.index, stamps.hyperParameterHash,
                ]
            ).map(UserID.init)
        }
    }

    /// Records a worker's refusal of `(device, sequence)`; a second record of the same batch replaces the
    /// first (the newest reason and state are what the device should act on).
    public func recordRejection(_ rejection: RecordedRejection) throws {
        guard rejection.sequence <= UInt64(Int64.max), rejection.current.modelVersion.number <= UInt64(Int64.max),
            rejection.current.epoch <= UInt64(Int64.max)
        else {
            throw RegistryError(
                .valueOutOfRange, "rejection of \(rejection.device)#\(rejection.sequence) is out of range")
        }
        try writeTransaction { db in
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO batch_rejections (device, seq, reason, model_version, model_hash,
                        freeze_point, hyper_hash, epoch, detail, recorded_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    rejection.device.rawValue, Int64(rejection.sequence), rejection.reason.rawValue,
                    Int64(rejection.current.modelVersion.number), rejection.current.modelHash,
                    rejection.current.freezePoint.index, rejection.current.hyperParameterHash,
                    Int64(rejection.current.epoch), rejection.detail, Date(),
                ])
        }
    }

    /// Every rejection recorded for `device`, ascending by sequence, removed in the same transaction:
    /// each is handed out once. A lost reply loses nothing the device needs — its outbox re-sends the
    /// batch, which is refused and recorded again.
    public func takeRejections(device: DeviceID) throws -> [RecordedRejection] {
        try writeTransaction { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT * FROM batch_rejections WHERE device = ? ORDER BY seq", arguments: [device.rawValue])
            try db.execute(sql: "DELETE FROM batch_rejections WHERE device = ?", arguments: [device.rawValue])
            return rows.compactMap { row -> RecordedRejection? in
                guard let reason = RejectReason(rawValue: row["reason"]) else { return nil }
                return RecordedRejection(
                    device: device, sequence: UInt64(row["seq"] as Int64), reason: reason,
                    current: DeploymentState(
                        modelVersion: ModelVersion(UInt64(row["model_version"] as Int64)), modelHash: row["model_hash"],
                        freezePoint: FreezePoint(row["freeze_point"]), hyperParameterHash: row["hyper_hash"],
                        epoch: UInt64(row["epoch"] as Int64)),
                    detail: row["detail"])
            }
        }
    }
}
