import GRDB

extension RegistrySchema {
    /// Tables of freeze-point moves (docs/FREEZE-MOVES.md), appended after `v1-registry`.
    ///
    /// - `batch_rejections`: a worker's refusal of a device's batch, kept until the device collects it
    ///   with its next `FreezeSyncRequest` (the return path of `BatchRejected`; devices have no socket a
    ///   worker could reach).
    /// - an index by `(user, sample_id, model_version, hyper_hash, freeze_point)`, so "does this sample
    ///   already have a row at k'?" — asked for every row the advancer considers and for every sample a
    ///   device syncs — is one index probe.
    static func registerFreezeMoves(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v2-freeze-moves") { db in
            try db.execute(
                sql: """
                    CREATE TABLE batch_rejections (
                        device        TEXT NOT NULL,
                        seq           INTEGER NOT NULL,
                        reason        TEXT NOT NULL,
                        model_version INTEGER NOT NULL,
                        model_hash    TEXT NOT NULL,
                        freeze_point  INTEGER NOT NULL,
                        hyper_hash    TEXT NOT NULL,
                        epoch         INTEGER NOT NULL,
                        detail        TEXT NOT NULL,
                        recorded_at   DATETIME NOT NULL,
                        PRIMARY KEY (device, seq)
                    );
                    CREATE INDEX features_by_sample ON features(user, sample_id, model_version, hyper_hash, freeze_point);
                    """)
        }
    }
}
