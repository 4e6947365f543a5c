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

    /// Compare-and-set: commits `commit` as version `parentVersion + 1` only if `parentVersion` is still
    /// the user's latest version (0 meaning "no head yet"), in one write transaction.
    ///
    /// This is what keeps a user's history linear when several workers train the same user: the loser
    /// of a race gets `.conflict` with the winner's version and must retrain on top of it.
    ///
    /// - Returns: `.committed(version:hash:)` or `.conflict(currentVersion:currentHash:)`.
    /// - Throws: ``RegistryError`` for non-finite or empty parameters (nothing is written).
    public func commitHead(_ commit: HeadCommit) throws -> CommitOutcome {
        try commit.validate()
        let outcome: CommitOutcome = try writeTransaction { db in try Self.writeHead(db, commit, consumed: []).0 }
        count {
            switch outcome {
            case .committed: $0.commits += 1
            case .conflict: $0.conflicts += 1
            }
        }
        return outcome
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
