import Foundation
import GRDB
import ThawNN

extension RegistryStore {
    /// The user's newest head whatever its stamps, or nil. Workers train on top of it.
    public func latestHead(_ user: UserID) throws -> HeadRecord? {
        try read { db in try Self.fetchLatestHead(db, user: user) }
    }

    /// The newest stored head of `user` whose content hash is `hash`, or nil.
    public func head(_ user: UserID, hash: String) throws -> HeadRecord? {
        try read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM heads WHERE user = ? AND hash = ? ORDER BY version DESC LIMIT 1",
                arguments: [user.rawValue, hash]
            ).map(Self.decodeHead)
        }
    }

    /// Every head of `user`, oldest first.
    public func headHistory(_ user: UserID) throws -> [HeadRecord] {
        try read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM heads WHERE user = ? ORDER BY version", arguments: [user.rawValue]
            ).map(Self.decodeHead)
        }
    }

    private static func fetchLatestHead(_ db: Database, user: UserID) throws -> HeadRecord? {
        try Row.fetchOne(
            db, sql: "SELECT * FROM heads WHERE user = ? ORDER BY version DESC LIMIT 1", arguments: [user.rawValue]
        ).map(decodeHead)
    }

    private static func decodeHead(_ row: Row) throws -> HeadRecord {
        let version = UInt64(row["version"] as Int64)
        let parameters = try FloatBlob.decode(row["parameters"], field: "heads.parameters v\(version)")
        let loss: Double = row["loss"]
        return HeadRecord(
            user: UserID(row["user"]),
            version: version,
            parentVersion: UInt64(row["parent_version"] as Int64),
            stamps: FeatureStamps(
                modelVersion: ModelVersion(UInt64(row["model_version"] as Int64)),
                freezePoint: FreezePoint(row["freeze_point"]),
                hyperParameterHash: row["hyper_hash"]),
            hash: row["hash"],
            parameters: parameters,
            loss: Float(loss),
            samples: row["samples"],
            createdAt: row["created_at"])
    }
}
