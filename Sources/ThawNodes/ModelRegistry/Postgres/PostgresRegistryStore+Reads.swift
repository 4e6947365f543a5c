import Foundation
import Logging
import PostgresNIO
import ThawNN

extension PostgresRegistryStore {
    // MARK: - Base models

    @discardableResult
    public func putBaseModel(version: ModelVersion, hash: String, blob: Data) throws -> BaseModelPutOutcome {
        let number = try Self.checkedInt64(version.number, "model version")
        let logger = logger
        return try transaction { connection in
            // Inserted unless present; a racing registry's insert makes this one see its row instead.
            let inserted = try await connection.rows(
                """
                INSERT INTO base_models (version, hash, blob, created_at) VALUES (\(number), \(hash), \(blob), \(Date()))
                ON CONFLICT (version) DO NOTHING RETURNING version
                """, logger)
            if !inserted.isEmpty { return .inserted }
            let existing = try await connection.rows(
                "SELECT hash FROM base_models WHERE version = \(number)", logger
            ).first.map { try $0.string("hash") }
            guard existing == hash else {
                throw RegistryError(
                    .baseModelConflict, "\(version) is registered with hash \(existing ?? "?"), not \(hash)")
            }
            return .alreadyPresent
        }
    }

    public func baseModel(_ version: ModelVersion) throws -> BaseModelRecord? {
        guard version.number <= UInt64(Int64.max) else { return nil }
        return try rows("SELECT hash, blob, created_at FROM base_models WHERE version = \(Int64(version.number))")
            .first.map { row in
                BaseModelRecord(
                    version: version, hash: try row.string("hash"), blob: try row.data("blob"),
                    createdAt: try row.date("created_at"))
            }
    }

    public func latestBaseModelVersion() throws -> ModelVersion? {
        try rows("SELECT MAX(version) AS latest FROM base_models").first
            .flatMap { try $0.optionalInt64("latest") }.map { ModelVersion(UInt64($0)) }
    }

    public func baseModelVersions() throws -> [ModelVersion] {
        try rows("SELECT version FROM base_models ORDER BY version").map { ModelVersion(UInt64(try $0.int64("version"))) }
    }

    // MARK: - Heads

    public func latestHead(_ user: UserID) throws -> HeadRecord? {
        try rows("SELECT * FROM heads WHERE user_id = \(user.rawValue) ORDER BY version DESC LIMIT 1")
            .first.map(Self.decodeHead)
    }

    public func head(_ user: UserID, hash: String) throws -> HeadRecord? {
        try rows(
            "SELECT * FROM heads WHERE user_id = \(user.rawValue) AND hash = \(hash) ORDER BY version DESC LIMIT 1"
        ).first.map(Self.decodeHead)
    }

    public func headHistory(_ user: UserID) throws -> [HeadRecord] {
        try rows("SELECT * FROM heads WHERE user_id = \(user.rawValue) ORDER BY version").map(Self.decodeHead)
    }

    static func decodeHead(_ row: PostgresRandomAccessRow) throws -> HeadRecord {
        let version = UInt64(try row.int64("version"))
        return HeadRecord(
            user: UserID(try row.string("user_id")), version: version,
            parentVersion: UInt64(try row.int64("parent_version")), stamps: try row.stamps(),
            hash: try row.string("hash"),
            parameters: try FloatBlob.decode(try row.data("parameters"), field: "heads.parameters v\(version)"),
            loss: Float(try row.double("loss")), samples: try row.int("samples"), createdAt: try row.date("created_at"))
    }

    // MARK: - Features

    public func features(_ user: UserID, stamps: FeatureStamps, after: Int64, limit: Int) throws -> [StoredFeature] {
        precondition(limit > 0, "a feature page needs a positive limit (got \(limit))")
        guard stamps.modelVersion.number <= UInt64(Int64.max) else { return [] }
        let found = try rows(
            """
            SELECT * FROM features
            WHERE user_id = \(user.rawValue) AND model_version = \(Int64(stamps.modelVersion.number))
                AND freeze_point = \(Int64(stamps.freezePoint.index)) AND hyper_hash = \(stamps.hyperParameterHash)
                AND id > \(after)
            ORDER BY id LIMIT \(Int64(limit))
            """
        ).map(Self.decodeFeature)
        count { $0.featuresServed += found.count }
        return found
    }

    public func featureWindow(_ user: UserID, stamps: FeatureStamps, after: Int64, limit: Int) throws -> [StoredFeature]
    {
        try newestRows(user, stamps: stamps, after: after, limit: limit, columns: "*", decode: Self.decodeFeature)
    }

    public func featureListing(_ user: UserID, stamps: FeatureStamps, after: Int64, limit: Int) throws
        -> [StoredFeature]
    {
        try newestRows(
            user, stamps: stamps, after: after, limit: limit,
            columns: "id, user_id, device, device_seq, sample_id, label, model_version, freeze_point, hyper_hash",
            decode: { try Self.storedFeature($0, activations: StoredActivations(shape: [], scalars: [])) })
    }

    /// The newest `limit` of `user`'s rows under `stamps` with id > `after`, oldest first, reading `columns`.
    private func newestRows(
        _ user: UserID, stamps: FeatureStamps, after: Int64, limit: Int, columns: String,
        decode: (PostgresRandomAccessRow) throws -> StoredFeature
    ) throws -> [StoredFeature] {
        precondition(limit > 0, "a feature window needs a positive limit (got \(limit))")
        guard stamps.modelVersion.number <= UInt64(Int64.max) else { return [] }
        let found = try rows(
            """
            SELECT * FROM (
                SELECT \(unescaped: columns) FROM features
                WHERE user_id = \(user.rawValue) AND model_version = \(Int64(stamps.modelVersion.number))
                    AND freeze_point = \(Int64(stamps.freezePoint.index)) AND hyper_hash = \(stamps.hyperParameterHash)
                    AND id > \(after)
                ORDER BY id DESC LIMIT \(Int64(limit))) newest
            ORDER BY id
            """
        ).map(decode)
        count { $0.featuresServed += found.count }
        return found
    }

    public func featureCount(_ user: UserID, stamps: FeatureStamps) throws -> Int {
        try rows(
            """
            SELECT COUNT(*) AS n FROM features
            WHERE user_id = \(user.rawValue) AND model_version = \(Int64(stamps.modelVersion.number))
                AND freeze_point = \(Int64(stamps.freezePoint.index)) AND hyper_hash = \(stamps.hyperParameterHash)
            """
        ).first.map { try $0.int("n") } ?? 0
    }

    public func sampleCounts(stamps: FeatureStamps) throws -> [UserID: Int] {
        let counted = try rows(
            """
            SELECT user_id, COUNT(*) AS n FROM features
            WHERE model_version = \(Int64(stamps.modelVersion.number)) AND freeze_point = \(Int64(stamps.freezePoint.index))
                AND hyper_hash = \(stamps.hyperParameterHash)
            GROUP BY user_id
            """
        ).map { (UserID(try $0.string("user_id")), try $0.int("n")) }
        return Dictionary(uniqueKeysWithValues: counted)
    }

    public func durableSequences(device: DeviceID) throws -> [UInt64] {
        try rows("SELECT seq FROM device_batches WHERE device = \(device.rawValue) ORDER BY seq")
            .map { UInt64(try $0.int64("seq")) }
    }

    static func decodeFeature(_ row: PostgresRandomAccessRow) throws -> StoredFeature {
        let id = try row.int64("id")
        let shape = try FloatBlob.decodeShape(try row.string("shape"), field: "features[\(id)].shape")
        let scalars = try FloatBlob.decode(try row.data("activation"), field: "features[\(id)].activation")
        let activations = StoredActivations(shape: shape, scalars: scalars)
        try activations.validate("features[\(id)]")
        return try storedFeature(row, activations: activations)
    }

    /// A feature row's ids and stamps around `activations` (read, or empty for a listing).
    static func storedFeature(_ row: PostgresRandomAccessRow, activations: StoredActivations) throws -> StoredFeature {
        StoredFeature(
            id: try row.int64("id"), user: UserID(try row.string("user_id")), device: DeviceID(try row.string("device")),
            deviceSequence: UInt64(try row.int64("device_seq")), sampleID: UInt64(try row.int64("sample_id")),
            label: try row.int("label"), stamps: try row.stamps(), activations: activations)
    }

    // MARK: - The index

    public func loadIndex() throws -> RegistryIndex {
        let logger = logger
        return try snapshot { connection in try await Self.loadIndex(connection, logger) }
    }

    /// See ``RegistryStore/loadIndex()``; inside the caller's snapshot.
    static func loadIndex(_ connection: PostgresConnection, _ logger: Logger) async throws -> RegistryIndex {
        var index = RegistryIndex()
        let heads = try await connection.rows(
            """
            SELECT DISTINCT ON (user_id) user_id, version, parent_version, hash, model_version, freeze_point,
                hyper_hash, samples
            FROM heads ORDER BY user_id, version DESC
            """, logger)
        for row in heads {
            let user = UserID(try row.string("user_id"))
            let stamps = try row.stamps()
            let samples = try row.int("samples")
            index.heads[user] = RegistryIndex.Head(
                version: UInt64(try row.int64("version")), parentVersion: UInt64(try row.int64("parent_version")),
                hash: try row.string("hash"), stamps: stamps, samples: samples,
                trainedThrough: try await trainedThrough(user, stamps: stamps, samples: samples, connection, logger))
        }
        var consumed: [String: Set<FeatureStamps>] = [:]
        for row in try await connection.rows(
            """
            SELECT c.device, c.seq, h.model_version, h.freeze_point, h.hyper_hash
            FROM head_consumed c JOIN heads h ON h.user_id = c.user_id AND h.version = c.version
            """, logger)
        {
            consumed["\(try row.string("device"))#\(try row.int64("seq"))", default: []].insert(try row.stamps())
        }
        for row in try await connection.rows(
            """
            SELECT b.device, b.seq, b.user_id, b.model_version, b.freeze_point, b.hyper_hash, b.samples,
                b.identity_hash, b.content_hash,
                (SELECT MAX(f.id) FROM features f
                 WHERE f.device = b.device AND f.device_seq = b.seq AND f.freeze_point = b.freeze_point) AS last_id
            FROM device_batches b
            """, logger)
        {
            let device = try row.string("device")
            let seq = try row.int64("seq")
            let identity = try row.optionalString("identity_hash")
            let content = try row.optionalString("content_hash")
            index.batches[DeviceID(device), default: [:]][UInt64(seq)] = RegistryIndex.Batch(
                user: UserID(try row.string("user_id")), stamps: try row.stamps(), samples: try row.int("samples"),
                lastRow: try row.optionalInt64("last_id") ?? 0,
                fingerprint: identity.flatMap { id in content.map { BatchFingerprint(identity: id, content: $0) } },
                consumedUnder: consumed["\(device)#\(seq)"] ?? [])
        }
        return index
    }
}
