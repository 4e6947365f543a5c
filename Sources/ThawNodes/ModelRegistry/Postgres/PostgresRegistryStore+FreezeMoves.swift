import Foundation
import Logging
import PostgresNIO
import ThawNN

extension PostgresRegistryStore {
    /// See ``RegistryStore/samplesToAdvance(to:after:limit:)``.
    public func samplesToAdvance(to target: FeatureStamps, after: Int64, limit: Int) throws -> [StoredFeature] {
        precondition(limit > 0, "a feature page needs a positive limit (got \(limit))")
        let version = try Self.checkedInt64(target.modelVersion.number, "model version")
        let hyper = target.hyperParameterHash
        let point = Int64(target.freezePoint.index)
        return try rows(
            """
            SELECT s.* FROM features s
            WHERE s.model_version = \(version) AND s.hyper_hash = \(hyper) AND s.freeze_point < \(point) AND s.id > \(after)
              AND NOT EXISTS (
                SELECT 1 FROM features t
                WHERE t.user_id = s.user_id AND t.sample_id = s.sample_id AND t.model_version = s.model_version
                  AND t.hyper_hash = s.hyper_hash AND t.freeze_point = \(point))
              AND NOT EXISTS (
                SELECT 1 FROM features d
                WHERE d.user_id = s.user_id AND d.sample_id = s.sample_id AND d.model_version = s.model_version
                  AND d.hyper_hash = s.hyper_hash AND d.freeze_point < \(point)
                  AND (d.freeze_point > s.freeze_point OR (d.freeze_point = s.freeze_point AND d.id > s.id)))
            ORDER BY s.id LIMIT \(Int64(limit))
            """
        ).map(Self.decodeFeature)
    }

    /// See ``RegistryStore/featuresToAdvance(from:to:user:after:limit:)``.
    public func featuresToAdvance(
        from source: FeatureStamps, to target: FreezePoint, user: UserID?, after: Int64, limit: Int
    ) throws -> [StoredFeature] {
        precondition(limit > 0, "a feature page needs a positive limit (got \(limit))")
        let version = try Self.checkedInt64(source.modelVersion.number, "model version")
        // A NULL user matches every user.
        return try rows(
            """
            SELECT s.* FROM features s
            WHERE s.model_version = \(version) AND s.freeze_point = \(Int64(source.freezePoint.index))
              AND s.hyper_hash = \(source.hyperParameterHash) AND s.id > \(after)
              AND NOT EXISTS (
                SELECT 1 FROM features t
                WHERE t.device = s.device AND t.device_seq = s.device_seq AND t.sample_id = s.sample_id
                  AND t.freeze_point = \(Int64(target.index)))
              AND (\(user?.rawValue)::TEXT IS NULL OR s.user_id = \(user?.rawValue))
            ORDER BY s.id LIMIT \(Int64(limit))
            """
        ).map(Self.decodeFeature)
    }

    /// See ``RegistryStore/advanceFeatures(_:to:)``. The users of the page are locked as a batch store
    /// locks them, so advanced rows too get ids in commit order per user.
    @discardableResult
    public func advanceFeatures(_ features: [AdvancedFeature], to target: FeatureStamps) throws -> Int {
        for (index, feature) in features.enumerated() {
            try feature.activations.validate("advanced[\(index)].activations")
        }
        guard !features.isEmpty else { return 0 }
        let logger = logger
        let targetVersion = try Self.checkedInt64(target.modelVersion.number, "model version")
        let inserted: Int = try transaction { connection in
            let sourceIDs = features.map(\.sourceID)
            let users = try await connection.rows(
                "SELECT DISTINCT user_id FROM features WHERE id = ANY(\(sourceIDs)::BIGINT[]) ORDER BY user_id", logger
            ).map { try $0.string("user_id") }
            for user in users {
                try await connection.run("SELECT pg_advisory_xact_lock(hashtextextended(\(user), 0))", logger)
            }
            var inserted = 0
            for feature in features {
                guard
                    let source = try await connection.rows(
                        "SELECT model_version, freeze_point FROM features WHERE id = \(feature.sourceID)", logger
                    ).first
                else {
                    throw RegistryError(.valueOutOfRange, "advanced source row \(feature.sourceID) does not exist")
                }
                let sourceVersion = try source.int64("model_version")
                let sourcePoint = try source.int("freeze_point")
                guard sourceVersion == targetVersion, sourcePoint < target.freezePoint.index else {
                    throw RegistryError(
                        .valueOutOfRange,
                        "row \(feature.sourceID) at v\(sourceVersion)/k=\(sourcePoint) cannot advance to \(target)")
                }
                inserted += try await connection.rows(
                    """
                    INSERT INTO features (user_id, device, device_seq, sample_id, label, model_version,
                        freeze_point, hyper_hash, activation, shape, source_id)
                    SELECT user_id, device, device_seq, sample_id, label, model_version,
                        \(Int64(target.freezePoint.index)), \(target.hyperParameterHash),
                        \(FloatBlob.encode(feature.activations.scalars)),
                        \(FloatBlob.encodeShape(feature.activations.shape)), id
                    FROM features WHERE id = \(feature.sourceID)
                    ON CONFLICT (device, device_seq, sample_id, freeze_point) DO NOTHING
                    RETURNING id
                    """, logger
                ).count
            }
            return inserted
        }
        count { $0.featuresAdvanced += inserted }
        return inserted
    }

    public func missingSamples(_ user: UserID, stamps: FeatureStamps, among sampleIDs: [UInt64]) throws -> [UInt64] {
        let asked = Set(sampleIDs)
        let probed = asked.filter { $0 <= UInt64(Int64.max) }.map { Int64($0) }
        guard !probed.isEmpty else { return asked.sorted() }
        let held = Set(
            try rows(
                """
                SELECT DISTINCT sample_id FROM features
                WHERE user_id = \(user.rawValue) AND sample_id = ANY(\(probed)::BIGINT[])
                    AND model_version = \(Int64(stamps.modelVersion.number)) AND hyper_hash = \(stamps.hyperParameterHash)
                    AND freeze_point = \(Int64(stamps.freezePoint.index))
                """
            ).map { UInt64(try $0.int64("sample_id")) })
        return asked.subtracting(held).sorted()
    }

    public func usersNeedingHeads(at stamps: FeatureStamps) throws -> [UserID] {
        try rows(
            """
            SELECT DISTINCT f.user_id FROM features f
            WHERE f.model_version = \(Int64(stamps.modelVersion.number)) AND f.freeze_point = \(Int64(stamps.freezePoint.index))
              AND f.hyper_hash = \(stamps.hyperParameterHash)
              AND NOT EXISTS (
                SELECT 1 FROM heads h
                WHERE h.user_id = f.user_id AND h.model_version = f.model_version
                  AND h.freeze_point = f.freeze_point AND h.hyper_hash = f.hyper_hash
                  AND h.version = (SELECT MAX(version) FROM heads WHERE user_id = f.user_id))
            ORDER BY f.user_id
            """
        ).map { UserID(try $0.string("user_id")) }
    }

    public func recordRejection(_ rejection: RecordedRejection) throws {
        guard rejection.sequence <= UInt64(Int64.max), rejection.current.modelVersion.number <= UInt64(Int64.max),
            rejection.current.epoch <= UInt64(Int64.max)
        else {
            throw RegistryError(
                .valueOutOfRange, "rejection of \(rejection.device)#\(rejection.sequence) is out of range")
        }
        let logger = logger
        try transaction { connection in
            try await connection.run(
                """
                INSERT INTO batch_rejections (device, seq, reason, model_version, model_hash, freeze_point, hyper_hash,
                    epoch, detail, recorded_at)
                VALUES (\(rejection.device.rawValue), \(Int64(rejection.sequence)), \(rejection.reason.rawValue),
                    \(Int64(rejection.current.modelVersion.number)), \(rejection.current.modelHash),
                    \(Int64(rejection.current.freezePoint.index)), \(rejection.current.hyperParameterHash),
                    \(Int64(rejection.current.epoch)), \(rejection.detail), \(Date()))
                ON CONFLICT (device, seq) DO UPDATE SET reason = excluded.reason,
                    model_version = excluded.model_version, model_hash = excluded.model_hash,
                    freeze_point = excluded.freeze_point, hyper_hash = excluded.hyper_hash, epoch = excluded.epoch,
                    detail = excluded.detail, recorded_at = excluded.recorded_at
                """, logger)
        }
    }

    /// Every rejection recorded for `device`, removed in the same statement: each is handed out once,
    /// even when two registries serve the device's syncs at once.
    public func takeRejections(device: DeviceID) throws -> [RecordedRejection] {
        let taken = try rows(
            "DELETE FROM batch_rejections WHERE device = \(device.rawValue) RETURNING *")
        return try taken.compactMap { row -> RecordedRejection? in
            guard let reason = RejectReason(rawValue: try row.string("reason")) else { return nil }
            return RecordedRejection(
                device: device, sequence: UInt64(try row.int64("seq")), reason: reason,
                current: DeploymentState(
                    modelVersion: ModelVersion(UInt64(try row.int64("model_version"))),
                    modelHash: try row.string("model_hash"), freezePoint: FreezePoint(try row.int("freeze_point")),
                    hyperParameterHash: try row.string("hyper_hash"), epoch: UInt64(try row.int64("epoch"))),
                detail: try row.string("detail"))
        }.sorted { $0.sequence < $1.sequence }
    }
}
