import PostgresNIO

/// The registry's tables on PostgreSQL: the SQLite schema (docs/REGISTRY.md) as it stands after its
/// migrations `v1`…`v4`, with PostgreSQL's types (`BIGINT`, `BYTEA`, `TIMESTAMPTZ`) and `user_id` for the
/// reserved word `user`.
///
/// Migrations are applied in order, each once, recorded in `thaw_migrations`; a released migration is
/// never edited, a later change appends one. Several registry processes may start at once: the whole
/// migration runs under one advisory transaction lock, so exactly one of them creates the tables.
enum PostgresRegistrySchema {
    /// The advisory lock key that serialises migrations ("thaw" in ASCII).
    static let migrationLock: Int64 = 0x7468_6177

    static let migrations: [(name: String, statements: [String])] = [
        (
            "pg-v1-registry",
            [
                """
                CREATE TABLE base_models (
                    version    BIGINT PRIMARY KEY,
                    hash       TEXT NOT NULL,
                    blob       BYTEA NOT NULL,
                    created_at TIMESTAMPTZ NOT NULL
                )
                """,
                """
                CREATE TABLE heads (
                    user_id        TEXT NOT NULL,
                    version        BIGINT NOT NULL CHECK (version >= 1),
                    parent_version BIGINT NOT NULL CHECK (version = parent_version + 1),
                    freeze_point   BIGINT NOT NULL,
                    model_version  BIGINT NOT NULL,
                    hyper_hash     TEXT NOT NULL,
                    hash           TEXT NOT NULL,
                    parameters     BYTEA NOT NULL,
                    loss           DOUBLE PRECISION NOT NULL,
                    samples        BIGINT NOT NULL,
                    created_at     TIMESTAMPTZ NOT NULL,
                    PRIMARY KEY (user_id, version)
                )
                """,
                """
                CREATE TABLE device_batches (
                    device        TEXT NOT NULL,
                    seq           BIGINT NOT NULL,
                    user_id       TEXT NOT NULL,
                    model_version BIGINT NOT NULL,
                    freeze_point  BIGINT NOT NULL,
                    hyper_hash    TEXT NOT NULL,
                    samples       BIGINT NOT NULL,
                    stored_at     TIMESTAMPTZ NOT NULL,
                    identity_hash TEXT,
                    content_hash  TEXT,
                    PRIMARY KEY (device, seq)
                )
                """,
                """
                CREATE TABLE features (
                    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    user_id       TEXT NOT NULL,
                    device        TEXT NOT NULL,
                    device_seq    BIGINT NOT NULL,
                    sample_id     BIGINT NOT NULL,
                    label         BIGINT NOT NULL,
                    model_version BIGINT NOT NULL,
                    freeze_point  BIGINT NOT NULL,
                    hyper_hash    TEXT NOT NULL,
                    activation    BYTEA NOT NULL,
                    shape         TEXT NOT NULL,
                    source_id     BIGINT REFERENCES features(id),
                    FOREIGN KEY (device, device_seq) REFERENCES device_batches(device, seq),
                    UNIQUE (device, device_seq, sample_id, freeze_point)
                )
                """,
                "CREATE INDEX features_by_stamps_and_id ON features(user_id, model_version, freeze_point, hyper_hash, id)",
                "CREATE INDEX features_by_batch ON features(device, device_seq, freeze_point)",
                "CREATE INDEX features_by_sample ON features(user_id, sample_id, model_version, hyper_hash, freeze_point)",
                """
                CREATE TABLE head_consumed (
                    user_id TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    device  TEXT NOT NULL,
                    seq     BIGINT NOT NULL,
                    PRIMARY KEY (device, seq, user_id, version)
                )
                """,
                """
                CREATE TABLE heads_declined (
                    user_id TEXT NOT NULL,
                    device  TEXT NOT NULL,
                    hash    TEXT NOT NULL,
                    count   BIGINT NOT NULL,
                    last_at TIMESTAMPTZ NOT NULL,
                    PRIMARY KEY (user_id, device, hash)
                )
                """,
                """
                CREATE TABLE batch_conflicts (
                    device       TEXT NOT NULL,
                    seq          BIGINT NOT NULL,
                    stored_user  TEXT NOT NULL,
                    offered_user TEXT NOT NULL,
                    offered_hash TEXT NOT NULL,
                    detail       TEXT NOT NULL,
                    count        BIGINT NOT NULL,
                    last_at      TIMESTAMPTZ NOT NULL,
                    PRIMARY KEY (device, seq, offered_hash)
                )
                """,
                """
                CREATE TABLE batch_rejections (
                    device        TEXT NOT NULL,
                    seq           BIGINT NOT NULL,
                    reason        TEXT NOT NULL,
                    model_version BIGINT NOT NULL,
                    model_hash    TEXT NOT NULL,
                    freeze_point  BIGINT NOT NULL,
                    hyper_hash    TEXT NOT NULL,
                    epoch         BIGINT NOT NULL,
                    detail        TEXT NOT NULL,
                    recorded_at   TIMESTAMPTZ NOT NULL,
                    PRIMARY KEY (device, seq)
                )
                """,
            ]
        )
    ]

    /// Applies every migration not yet recorded, in one transaction under ``migrationLock``.
    static func migrate(_ store: PostgresRegistryStore, timeout: Duration? = nil) throws {
        let logger = store.logger
        try store.transaction(timeout: timeout) { connection in
            try await connection.run("SELECT pg_advisory_xact_lock(\(migrationLock))", logger)
            try await connection.run(
                "CREATE TABLE IF NOT EXISTS thaw_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
                logger)
            let applied = Set(
                try await connection.rows("SELECT name FROM thaw_migrations", logger).map { try $0.string("name") })
            for migration in migrations where !applied.contains(migration.name) {
                for statement in migration.statements {
                    try await connection.run(PostgresQuery(unsafeSQL: statement), logger)
                }
                try await connection.run("INSERT INTO thaw_migrations (name) VALUES (\(migration.name))", logger)
            }
        }
    }
}
