import Foundation
import GRDB
import ThawNN

extension RegistryStore {
    /// A page of `user`'s feature rows stamped exactly `stamps`, in insertion order.
    ///
    /// - Parameters:
    ///   - after: the last ``StoredFeature/id`` of the previous page (0 for the first page).
    ///   - limit: the page size; must be positive.
    public func features(
        _ user: UserID, stamps: FeatureStamps, after: Int64 = 0, limit: Int
    ) throws -> [StoredFeature] {
        precondition(limit > 0, "a feature page needs a positive limit (got \(limit))")
        return try featureRows(
            user, stamps: stamps, after: after, limit: limit,
            select: { "SELECT * FROM features WHERE \($0) ORDER BY id LIMIT ?" })
    }

    /// `user`'s rows stamped exactly `stamps` with id > `after`, as `select` (given the WHERE condition,
    /// ending in a `LIMIT ?`) picks them; counted as served. Shared by ``features(_:stamps:after:limit:)``
    /// (oldest first) and ``featureWindow(_:stamps:after:limit:)`` (the newest `limit`).
    func featureRows(
        _ user: UserID, stamps: FeatureStamps, after: Int64, limit: Int, select: (String) -> String,
        decode: (Row) throws -> StoredFeature = RegistryStore.decodeFeature
    ) throws -> [StoredFeature] {
        // No stored row has a version beyond Int64 (batches are refused first); a peer may still ask.
        guard stamps.modelVersion.number <= UInt64(Int64.max) else { return [] }
        let condition = "user = ? AND model_version = ? AND freeze_point = ? AND hyper_hash = ? AND id > ?"
        let rows = try read { db in
            try Row.fetchAll(
                db, sql: select(condition),
                arguments: [
                    user.rawValue, Int64(stamps.modelVersion.number), stamps.freezePoint.index,
                    stamps.hyperParameterHash, after, limit,
                ]
            ).map(decode)
        }
        count { $0.featuresServed += rows.count }
        return rows
    }

    /// How many feature rows `user` has under `stamps`.
    public func featureCount(_ user: UserID, stamps: FeatureStamps) throws -> Int {
        try read { db in
            try Int.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) FROM features
                    WHERE user = ? AND model_version = ? AND freeze_point = ? AND hyper_hash = ?
                    """,
                arguments: [
                    user.rawValue, Int64(stamps.modelVersion.number), stamps.freezePoint.index,
                    stamps.hyperParameterHash,
                ]) ?? 0
        }
    }

    /// Feature rows per user under `stamps` (users with none are absent): what the coordinator's automatic
    /// freeze policy decides on.
    public func sampleCounts(stamps: FeatureStamps) throws -> [UserID: Int] {
        try read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT user, COUNT(*) AS count FROM features
                    WHERE model_version = ? AND freeze_point = ? AND hyper_hash = ?
                    GROUP BY user
                    """,
                arguments: [Int64(stamps.modelVersion.number), stamps.freezePoint.index, stamps.hyperParameterHash])
            return Dictionary(uniqueKeysWithValues: rows.map { (UserID($0["user"] as String), $0["count"] as Int) })
        }
    }

    /// Rows stamped `source` that have no counterpart at freeze point `target` yet, oldest first: the
    /// work list of a freeze-point move from k to a deeper k'.
    ///
    /// The cloud runs layers `[k, k')` on each row's activation and hands the results to
    /// ``advanceFeatures(_:to:)``. Because rows already advanced drop out of this list, a job that crashed
    /// half-way resumes by asking again; because the insert ignores existing keys, redoing a page is
    /// harmless.
    ///
    /// - Parameters:
    ///   - user: restrict to one user, or nil for every user.
    ///   - after: paging cursor, the last id of the previous page (0 to start).
    public func featuresToAdvance(
        from source: FeatureStamps, to target: FreezePoint, user: UserID? = nil, after: Int64 = 0, limit: Int
    ) throws -> [StoredFeature] {
        precondition(limit > 0, "a feature page needs a positive limit (got \(limit))")
        var arguments: StatementArguments = [
            Int64(source.modelVersion.number), source.freezePoint.index, source.hyperParameterHash, after,
            target.index,
        ]
        var userClause = ""
        if let user {
            userClause = "AND s.user = ?"
            arguments += [user.rawValue]
        }
        arguments += [limit]
        let sql = """
            SELECT s.* FROM features s
            WHERE s.model_version = ? AND s.freeze_point = ? AND s.hyper_hash = ? AND s.id > ?
              AND NOT EXISTS (
                SELECT 1 FROM features t
                WHERE t.device = s.device AND t.device_seq = s.device_seq AND t.sample_id = s.sample_id
                  AND t.freeze_point = ?)
              \(userClause)
            ORDER BY s.id LIMIT ?
            """
        return try read { db in try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.decodeFeature) }
    }

    /// Inserts activations advanced to a deeper freeze point, each next to its source row and stamped
    /// `target`; user, device, sequence, sample id and label are copied from the source.
    ///
    /// Idempotent by `(device, sequence, sample, freeze point)`: a row already present is left alone, so
    /// a resumed or repeated job inserts each advanced sample once. All of `features` go in one
    /// transaction.
    ///
    /// - Returns: how many rows were inserted (0 for a fully repeated page).
    /// - Throws: ``RegistryError`` when an activation is invalid, a source id does not exist, or `target`
    ///   is not deeper than the source under the same model version (nothing is written).
    @discardableResult
    public func advanceFeatures(_ features: [AdvancedFeature], to target: FeatureStamps) throws -> Int {
        for (index, feature) in features.enumerated() {
            try feature.activations.validate("advanced[\(index)].activations")
        }
        let inserted: Int = try writeTransaction { db in
            var inserted = 0
            for feature in features {
                guard
                    let source = try Row.fetchOne(
                        db, sql: "SELECT model_version, freeze_point FROM features WHERE id = ?",
                        arguments: [feature.sourceID])
                else {
                    throw RegistryError(.valueOutOfRange, "advanced source row \(feature.sourceID) does not exist")
                }
                let sourceVersion: Int64 = source["model_version"]
                let sourcePoint: Int = source["freeze_point"]
                guard sourceVersion == Int64(target.modelVersion.number), sourcePoint < target.freezePoint.index
                else {
                    throw RegistryError(
                        .valueOutOfRange,
                        "row \(feature.sourceID) at v\(sourceVersion)/k=\(sourcePoint) cannot advance to \(target)")
                }
                try db.execute(
                    sql: """
                        INSERT OR IGNORE INTO features (user, device, device_seq, sample_id, label, model_version,
                            freeze_point, hyper_hash, activation, shape, source_id)
                        SELECT user, device, device_seq, sample_id, label, model_version, ?, ?, ?, ?, id
                        FROM features WHERE id = ?
                        """,
                    arguments: [
                        target.freezePoint.index, target.hyperParameterHash,
                        FloatBlob.encode(feature.activations.scalars), FloatBlob.encodeShape(feature.activations.shape),
                        feature.sourceID,
                    ])
                inserted += db.changesCount
            }
            return inserted
        }
        count { $0.featuresAdvanced += inserted }
        return inserted
    }

    static func decodeFeature(_ row: Row) throws -> StoredFeature {
        let id: Int64 = row["id"]
        let shape = try FloatBlob.decodeShape(row["shape"], field: "features[\(id)].shape")
        let scalars = try FloatBlob.decode(row["activation"], field: "features[\(id)].activation")
        let activations = StoredActivations(shape: shape, scalars: scalars)
        try activations.validate("features[\(id)]")
        return storedFeature(row, activations: activations)
    }

    /// A row read without its `activation` and `shape` columns (``featureListing(_:stamps:after:limit:)``).
    static func decodeListedFeature(_ row: Row) -> StoredFeature {
        storedFeature(row, activations: StoredActivations(shape: [], scalars: []))
    }

    private static func storedFeature(_ row: Row, activations: StoredActivations) -> StoredFeature {
        let id: Int64 = row["id"]
        return StoredFeature(
            id: id,
            user: UserID(row["user"]),
            device: DeviceID(row["device"]),
            deviceSequence: UInt64(row["device_seq"] as Int64),
            sampleID: UInt64(row["sample_id"] as Int64),
            label: row["label"],
            stamps: FeatureStamps(
                modelVersion: ModelVersion(UInt64(row["model_version"] as Int64)),
                freezePoint: FreezePoint(row["freeze_point"]),
                hyperParameterHash: row["hyper_hash"]),
            activations: activations)
    }
}
