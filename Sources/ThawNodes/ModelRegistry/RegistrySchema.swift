import GRDB

/// The registry's tables, created and upgraded through GRDB's `DatabaseMigrator`.
///
/// A migration, once released, is never edited: a later change appends a new one, so that a database
/// file written by an older build opens in a newer one. Schema and invariants are described in
/// docs/REGISTRY.md.
enum RegistrySchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-registry") { db in
            try db.execute(
                sql: """
                    CREATE TABLE base_models (
                        version    INTEGER PRIMARY KEY,
                        hash       TEXT NOT NULL,
                        blob       BLOB NOT NULL,
                        created_at DATETIME NOT NULL
                    );
                    CREATE TABLE heads (
                        user           TEXT NOT NULL,
                        version        INTEGER NOT NULL CHECK (version >= 1),
                        parent_version INTEGER NOT NULL CHECK (version = parent_version + 1),
                        freeze_point   INTEGER NOT NULL,
                        model_version  INTEGER NOT NULL,
                        hyper_hash     TEXT NOT NULL,
                        hash           TEXT NOT NULL,
                        parameters     BLOB NOT NULL,
                        loss           REAL NOT NULL,
                        samples        INTEGER NOT NULL,
                        created_at     DATETIME NOT NULL,
                        PRIMARY KEY (user, version)
                    );
                    CREATE TABLE device_batches (
                        device        TEXT NOT NULL,
                        seq           INTEGER NOT NULL,
                        user          TEXT NOT NULL,
                        model_version INTEGER NOT NULL,
                        freeze_point  INTEGER NOT NULL,
                        hyper_hash    TEXT NOT NULL,
                        samples       INTEGER NOT NULL,
                        stored_at     DATETIME NOT NULL,
                        PRIMARY KEY (device, seq)
                    );
                    CREATE TABLE features (
                        id            INTEGER PRIMARY KEY AUTOINCREMENT,
                        user          TEXT NOT NULL,
                        device        TEXT NOT NULL,
                        device_seq    INTEGER NOT NULL,
                        sample_id     INTEGER NOT NULL,
                        label         INTEGER NOT NULL,
                        model_version INTEGER NOT NULL,
                        freeze_point  INTEGER NOT NULL,
                        hyper_hash    TEXT NOT NULL,
                        activation    BLOB NOT NULL,
                        shape         TEXT NOT NULL,
                        source_id     INTEGER REFERENCES features(id),
                        FOREIGN KEY (device, device_seq) REFERENCES device_batches(device, seq),
                        UNIQUE (device, device_seq, sample_id, freeze_point)
                    );
                    CREATE INDEX features_by_user_stamps ON features(user, model_version, freeze_point);
                    """)
        }
        registerFreezeMoves(in: &migrator)
        registerIndex(in: &migrator)
        registerFeatureOrder(in: &migrator)
        return migrator
    }
}
