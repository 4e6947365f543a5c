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

    /// A device's conditional head read: never serves a head trained under another model version or
    /// freeze point than the caller's (nor, when given, other hyper-parameters).
    ///
    /// - Parameters:
    ///   - ifNoneMatch: the hash of the head the caller already holds, or nil.
    ///   - modelVersion: the caller's base model version; the head must match it.
    ///   - freezePoint: the caller's freeze point; the head must match it.
    ///   - hyperParameterHash: when non-nil, the head must also match it.
    /// - Returns: `.notModified` when the latest head has hash `ifNoneMatch` (and the stamps match),
    ///   `.head` with a newer matching head, `.noHead`, or `.stale` when the latest head's stamps differ.
    public func head(
        _ user: UserID, ifNoneMatch: String?, modelVersion: ModelVersion, freezePoint: FreezePoint,
        hyperParameterHash: String? = nil
    ) throws -> HeadLookup {
        let latest = try read { db in try Self.fetchLatestHead(db, user: user) }
        let lookup: HeadLookup
        if let latest {
            let matches =
                latest.stamps.modelVersion == modelVersion && latest.stamps.freezePoint == freezePoint
                && (hyperParameterHash.map { $0 == latest.stamps.hyperParameterHash } ?? true)
            if !matches {
                lookup = .stale(latestVersion: latest.version, latestStamps: latest.stamps)
            } else if latest.hash == ifNoneMatch {
                lookup = .notModified(version: latest.version, hash: latest.hash)
            } else {
                lookup = .head(latest)
            }
        } else {
            lookup = .noHead
        }
        count {
            switch lookup {
            case .head: $0.headsServed += 1
            case .notModified: $0.notModified += 1
            case .stale: $0.staleHeadReads += 1
            case .noHead: break
            }
        }
        return lookup
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
