import GRDB

extension RegistrySchema {
    /// `v3-registry-index`, appended after `v2-freeze-moves`:
    ///
    /// - `device_batches.identity_hash` and `content_hash`: ``BatchFingerprint`` of what was stored under
    ///   `(device, seq)` (user, sample ids and labels; plus stamps and activations), so a redelivery is
    ///   recognised as the same batch and anything else under that key is refused as a conflict. NULL on
    ///   rows written by an older build (those are compared by user and sample count only).
    /// - `head_consumed`: the batches a worker said a committed head was trained on (`HeadCommit.consumed`);
    ///   such a batch is acknowledged even when it lies beyond the head's first `samples` rows (a user with
    ///   more rows than a worker fetches, issue #12 bug 1).
    /// - `heads_declined`: heads a device pulled and declined (`HeadRequest.declined_hash`).
    /// - `batch_conflicts`: refused conflicting redeliveries, for `thaw ctl audit`.
    static func registerIndex(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v3-registry-index") { db in
            try db.execute(
                sql: """
                    ALTER TABLE device_batches ADD COLUMN identity_hash TEXT;
                    ALTER TABLE device_batches ADD COLUMN content_hash TEXT;
                    CREATE TABLE head_consumed (
                        user          TEXT NOT NULL,
                        version       INTEGER NOT NULL,
                        device        TEXT NOT NULL,
                        seq           INTEGER NOT NULL,
                        PRIMARY KEY (device, seq, user, version)
                    );
                    CREATE TABLE heads_declined (
                        user          TEXT NOT NULL,
                        device        TEXT NOT NULL,
                        hash          TEXT NOT NULL,
                        count         INTEGER NOT NULL,
                        last_at       DATETIME NOT NULL,
                        PRIMARY KEY (user, device, hash)
                    );
                    CREATE TABLE batch_conflicts (
                        device        TEXT NOT NULL,
                        seq           INTEGER NOT NULL,
                        stored_user   TEXT NOT NULL,
                        offered_user  TEXT NOT NULL,
                        offered_hash  TEXT NOT NULL,
                        detail        TEXT NOT NULL,
                        count         INTEGER NOT NULL,
                        last_at       DATETIME NOT NULL,
                        PRIMARY KEY (device, seq, offered_hash)
                    );
                    CREATE INDEX features_by_batch ON features(device, device_seq, freeze_point);
                    """)
        }
    }

    /// `v4-feature-order`: an index on every stamp and the row id, so a fetch of the rows after a head's
    /// coverage (`after_row`) and the acknowledgement's "row at offset n" seek in the index instead of
    /// reading every stored row of the user to test its `hyper_hash` (a cost that grew with the history).
    static func registerFeatureOrder(in migrator: inout DatabaseMigrator) {
        migrator.registerMigration("v4-feature-order") { db in
            try db.execute(
                sql: "CREATE INDEX features_by_stamps_and_id ON features(user, model_version, freeze_point, hyper_hash, id)")
        }
    }
}
