import Foundation
import GRDB
import Synchronization
import ThawNN

/// The registry's durable state: base models, per-user head histories, feature rows and the device
/// sequence numbers that make batch delivery exactly-once, in one SQLite file in WAL mode.
///
/// Thread rule: every method may be called from any thread; GRDB's `DatabasePool` serialises writes and
/// runs reads concurrently on snapshots. Each operation is one transaction, so a crash leaves either all
/// of it or none. Every method blocks on disk I/O: call it from a dedicated thread, never from the
/// cooperative pool. Ownership: one process may own a file at a time for writes in production, but
/// several processes opening it are safe too (writes take SQLite's write lock with a busy timeout).
/// After ``close()`` every call throws.
public final class RegistryStore: Sendable {
    /// Where the database file lives.
    public let path: String
    let pool: DatabasePool
    private let counterBox = Mutex(RegistryCounters())

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// - Throws: GRDB's `DatabaseError` when the file cannot be opened or migrated.
    public init(path: String) throws {
        try Self.createWithLargePages(path)
        var configuration = Configuration()
        // Other processes (a second registry, the sqlite3 shell) may hold the write lock briefly.
        configuration.busyMode = .timeout(10)
        // WAL policy for multi-megabyte heads (docs/REGISTRY.md): SQLite's default checkpoints every
        // 1,000 pages, i.e. on nearly every head commit, inside the committing transaction. The registry
        // raises that to 64 MiB of pages and checkpoints itself on its storage thread when idle
        // (``checkpoint(truncate:)``); the WAL file is truncated back to 64 MiB after a checkpoint.
        configuration.prepareDatabase { db in
            let pageSize = try Int.fetchOne(db, sql: "PRAGMA page_size") ?? 4096
            try db.execute(
                sql: "PRAGMA wal_autocheckpoint = \(Self.walBytes / max(pageSize, 512)); PRAGMA journal_size_limit = \(Self.walBytes)")
        }
        self.path = path
        self.pool = try DatabasePool(path: path, configuration: configuration)
        try RegistrySchema.migrator.migrate(pool)
    }

    /// WAL size at which SQLite checkpoints on its own, and to which the file is truncated after.
    static let walBytes = 64 << 20

    /// SQLite page size of a new database file. A 6.4 MB head is 1,600 pages of 4 KiB, each a WAL frame
    /// with its own header and checksum; at 64 KiB a head commit costs 2.5× less (measured with Python's
    /// sqlite3 on this machine: 26.6 → 10.7 ms mean per 6.4 MB insert with `synchronous = FULL`), and so
    /// does a 12.5 KB feature row. The size is fixed once the file is in WAL mode, so it is set here,
    /// before GRDB opens the pool; existing files keep theirs.
    static let pageSize = 65_536

    private static func createWithLargePages(_ path: String) throws {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard ((attributes?[.size] as? NSNumber)?.intValue ?? 0) == 0 else { return }
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA page_size = \(pageSize)")
            try db.execute(sql: "PRAGMA journal_mode = WAL")
        }
        try queue.close()
    }

    /// Closes every connection; later calls throw. Safe to call twice.
    public func close() throws {
        try pool.close()
    }

    /// This process's counters.
    public var counters: RegistryCounters { counterBox.withLock { $0 } }

    public func count(_ update: (inout RegistryCounters) -> Void) {
        counterBox.withLock { update(&$0) }
    }

    /// Runs `body` in one IMMEDIATE write transaction: the write lock is taken before the first read, so
    /// a read-check-write inside `body` is atomic across threads and processes.
    func writeTransaction<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.write(body)
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.read(body)
    }

    // MARK: - Base models

    /// Registers a base model checkpoint. Versions are immutable.
    ///
    /// - Returns: `.inserted`, or `.alreadyPresent` when the same version and hash are already stored.
    /// - Throws: ``RegistryError`` `.baseModelConflict` when the version exists with another hash.
    @discardableResult
    public func putBaseModel(version: ModelVersion, hash: String, blob: Data) throws -> BaseModelPutOutcome {
        guard version.number <= UInt64(Int64.max) else {
            throw RegistryError(.valueOutOfRange, "model version \(version) exceeds Int64.max")
        }
        return try writeTransaction { db in
            let existing = try String.fetchOne(
                db, sql: "SELECT hash FROM base_models WHERE version = ?", arguments: [Int64(version.number)])
            if let existing {
                guard existing == hash else {
                    throw RegistryError(
                        .baseModelConflict, "\(version) is registered with hash \(existing), not \(hash)")
                }
                return .alreadyPresent
            }
            try db.execute(
                sql: "INSERT INTO base_models (version, hash, blob, created_at) VALUES (?, ?, ?, ?)",
                arguments: [Int64(version.number), hash, blob, Date()])
            return .inserted
        }
    }

    /// The checkpoint registered as `version`, or nil.
    public func baseModel(_ version: ModelVersion) throws -> BaseModelRecord? {
        guard version.number <= UInt64(Int64.max) else { return nil }
        return try read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM base_models WHERE version = ?", arguments: [Int64(version.number)])
            else { return nil }
            return BaseModelRecord(
                version: version, hash: row["hash"], blob: row["blob"], createdAt: row["created_at"])
        }
    }

    /// The highest registered base model version, or nil when none is registered.
    public func latestBaseModelVersion() throws -> ModelVersion? {
        try read { db in
            try Int64.fetchOne(db, sql: "SELECT MAX(version) FROM base_models").map { ModelVersion(UInt64($0)) }
        }
    }
}

extension RegistryStore {
    /// Every registered base model version, ascending.
    public func baseModelVersions() throws -> [ModelVersion] {
        try read { db in
            try Int64.fetchAll(db, sql: "SELECT version FROM base_models ORDER BY version").map { ModelVersion(UInt64($0)) }
        }
    }
}
