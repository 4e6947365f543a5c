import Foundation
import GRDB

/// Every phone's persisted state of one device process in one SQLite database (`fleet.sqlite` in the
/// process's state directory), written with group commit: many phones' snapshots in one transaction,
/// one fsync, instead of one file, one fsync and one rename per phone event.
///
/// A row holds the phone's ``DeviceSnapshot`` encoded exactly as ``DeviceCacheStore`` writes a file
/// (magic, version, length, CRC-32), so every check of that format still guards what is read back: a
/// row that fails them is moved to `phone_state_corrupt` and the phone starts fresh, as a corrupt file
/// was moved aside before. Crash guarantees are unchanged (docs/RELIABILITY.md): the fleet sends a
/// batch only after the transaction holding its phone's advanced sequence number committed.
///
/// Thread rule: GRDB's `DatabasePool` serialises writes; the fleet commits from a detached task, never
/// on its own event task. Other processes (a test, the launcher's run report) may read concurrently (WAL).
package final class DeviceFleetStore: Sendable {
    package let path: String
    private let pool: DatabasePool

    /// Opens (creating if needed) the database at `path`.
    /// - Throws: GRDB's `DatabaseError` when the file cannot be opened or migrated.
    package init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        // A commit is durable when it returns (fsync of the WAL), as the atomic file writes were.
        // 64 KiB pages: a row is a whole snapshot (about 300 KB at freeze point 7), which on 4 KiB pages
        // is a chain of some 75 overflow pages that SQLite reads back one pread at a time to free them
        // and writes one pwrite at a time to the WAL at every update; that was 14 % of the process's CPU
        // at 10,000 phones (docs/RELIABILITY.md). The size takes effect only when the file is created
        // (before the first table; a WAL database keeps its page size), so existing stores keep theirs.
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA page_size = 65536")
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        self.path = path
        self.pool = try DatabasePool(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE phone_state (device TEXT PRIMARY KEY NOT NULL, snapshot BLOB NOT NULL);
                    CREATE TABLE phone_state_corrupt (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, snapshot BLOB NOT NULL,
                        error TEXT NOT NULL);
                    """)
        }
        try migrator.migrate(pool)
    }

    /// The database of the device process whose state directory is `directory`.
    package static func path(stateDirectory directory: String) -> String { "\(directory)/fleet.sqlite" }

    /// Writes every snapshot in one transaction (one commit, one fsync).
    package func save(_ snapshots: [(device: String, snapshot: DeviceSnapshot)]) throws {
        guard !snapshots.isEmpty else { return }
        let encoded = snapshots.map { ($0.device, DeviceCacheStore.encode($0.snapshot)) }
        try pool.write { db in
            // Not a cached statement: it keeps its last arguments, and these borrow memory (below).
            let statement = try db.makeStatement(
                sql: "INSERT INTO phone_state (device, snapshot) VALUES (?, ?) "
                    + "ON CONFLICT(device) DO UPDATE SET snapshot = excluded.snapshot")
            for (device, bytes) in encoded {
                // Bound without a copy into `Data` (a snapshot is about 300 KB at freeze point 7, and that
                // copy was 6 % of the process's CPU): the `Data` only borrows the array's bytes while the
                // statement executes (SQLite copies what it binds), and the statement, which keeps its
                // arguments, is dropped with this transaction.
                try bytes.withUnsafeBytes { raw in
                    guard let base = raw.baseAddress, !raw.isEmpty else {
                        try statement.execute(arguments: [device, Data()])
                        return
                    }
                    let borrowed = Data(
                        bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: raw.count, deallocator: .none)
                    try statement.execute(arguments: [device, borrowed])
                }
            }
        }
    }

    /// One phone's stored snapshot, `nil` when it has none.
    /// - Throws: ``StateFileError`` when the row fails the format's checks, or a `DatabaseError`.
    package func load(device: String) throws -> DeviceSnapshot? {
        let bytes = try pool.read { db in
            try Data.fetchOne(db, sql: "SELECT snapshot FROM phone_state WHERE device = ?", arguments: [device])
        }
        guard let bytes else { return nil }
        return try DeviceCacheStore.decode(Array(bytes), path: "\(path)#\(device)")
    }

    /// Every stored snapshot, each decoded on its own: one bad row does not hide the others.
    package func loadAll() throws -> [String: Result<DeviceSnapshot, StateFileError>] {
        var result: [String: Result<DeviceSnapshot, StateFileError>] = [:]
        try forEachSnapshot { device, snapshot in result[device] = snapshot }
        return result
    }

    /// Decodes the stored snapshots one row at a time and hands each to `body`, which keeps what it needs.
    ///
    /// Why: a run report needs a few counts per phone, and a snapshot holds the phone's cached activations
    /// (hundreds of KB): reading all 10,000 at once held 10 GB in `thaw up`'s launcher after a 10-minute
    /// load test.
    package func forEachSnapshot(_ body: (String, Result<DeviceSnapshot, StateFileError>) -> Void) throws {
        let path = path
        try pool.read { db in
            let rows = try Row.fetchCursor(db, sql: "SELECT device, snapshot FROM phone_state")
            while let row = try rows.next() {
                let device: String = row["device"]
                let bytes: Data = row["snapshot"]
                do {
                    body(device, .success(try DeviceCacheStore.decode(Array(bytes), path: "\(path)#\(device)")))
                } catch let error as StateFileError {
                    body(device, .failure(error))
                } catch {
                    body(device, .failure(StateFileError(code: .invalidContent, path: path, detail: "\(error)")))
                }
            }
        }
    }

    /// Moves a phone's row that failed to load aside (kept as evidence), so the phone starts fresh.
    package func quarantine(device: String, error: any Error) throws {
        try pool.write { db in
            try db.execute(
                sql: "INSERT INTO phone_state_corrupt (device, snapshot, error) "
                    + "SELECT device, snapshot, ? FROM phone_state WHERE device = ?",
                arguments: ["\(error)", device])
            try db.execute(sql: "DELETE FROM phone_state WHERE device = ?", arguments: [device])
        }
    }

    /// Stores raw bytes as a phone's row (tests: a corrupt row).
    package func saveRaw(_ bytes: [UInt8], device: String) throws {
        try pool.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO phone_state (device, snapshot) VALUES (?, ?)",
                arguments: [device, Data(bytes)])
        }
    }

    package func close() throws { try pool.close() }
}
