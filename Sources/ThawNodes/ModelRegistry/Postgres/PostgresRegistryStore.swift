import Foundation
import Logging
import NIOCore
import PostgresNIO
import Synchronization
import ThawNN

/// The registry's durable state on a PostgreSQL server, which several registry processes may share
/// (docs/DEPLOYMENT.md). Same tables and promises as the SQLite ``RegistryStore``; correctness across
/// processes comes from the database, not from any process's memory:
///
/// - a head commit is compare-and-set on the parent version inside a transaction, and the primary key
///   `(user_id, version)` refuses a second child of one parent even when two registries race (the loser
///   gets a unique violation, re-reads, and answers `conflict`);
/// - a batch is stored once per `(device, seq)` (primary key); a racing second store is re-evaluated
///   after the winner committed and answered `duplicate` or `conflict` by fingerprint;
/// - feature rows of one user are inserted under a per-user advisory transaction lock, so a user's row
///   ids grow in commit order: "the first n rows in id order" (a head's `samples`) and `after_row` mean
///   the same in every registry even when two insert rows of one user at once.
///
/// Thread rule: as ``RegistryBackend``: every method blocks (through ``BlockingBridge``) and must be
/// called from a dedicated thread. Ownership: the store owns its `PostgresClient` and the task running
/// it until ``close()``.
public final class PostgresRegistryStore: RegistryBackend {
    public let location: String
    let client: PostgresClient
    let bridge: BlockingBridge
    let logger: Logger
    private let runTask: Task<Void, Never>
    private let state = Mutex((counters: RegistryCounters(), closed: false))

    /// Connects (the pool connects lazily; the schema migration is the first round trip) and brings the
    /// schema up to date.
    ///
    /// - Throws: ``RegistryError`` for a malformed URL; postgres-nio's `PSQLError` when the server cannot
    ///   be reached or the migration fails.
    public init(url text: String, maximumConnections: Int = 4) throws {
        let url = try PostgresURL(text)
        location = url.redacted
        var configuration = PostgresClient.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: Self.tls(url.tls))
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(10)
        var logger = Logger(label: "thaw.registry.postgres")
        logger.logLevel = .warning
        self.logger = logger
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        let bridge = BlockingBridge(label: "thaw.registry.postgres")
        self.bridge = bridge
        runTask = bridge.start { await client.run() }
        do {
            // The pool retries an unreachable server for ever; a registry that cannot reach its database
            // at start should say so and exit (its supervisor restarts it) rather than hang.
            try PostgresRegistrySchema.migrate(self, timeout: Self.startTimeout)
        } catch let timeout as BridgeTimeout {
            runTask.cancel()
            throw RegistryError(.valueOutOfRange, "PostgreSQL at \(location): \(timeout)")
        } catch {
            runTask.cancel()
            throw error
        }
    }

    /// How long opening the store waits for the server (connecting and migrating).
    static let startTimeout: Duration = .seconds(30)

    private static func tls(_ mode: PostgresURL.TLSMode) -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
    }

    deinit {
        runTask.cancel()
    }

    public func close() throws {
        let wasClosed = state.withLock { state in
            defer { state.closed = true }
            return state.closed
        }
        if !wasClosed { runTask.cancel() }
    }

    public var counters: RegistryCounters { state.withLock { $0.counters } }

    public func count(_ update: (inout RegistryCounters) -> Void) {
        state.withLock { update(&$0.counters) }
    }

    public func writerIdle() {}

    private func checkOpen() throws {
        if state.withLock({ $0.closed }) {
            throw RegistryError(.valueOutOfRange, "the registry's PostgreSQL store at \(location) is closed")
        }
    }

    // MARK: - Running queries from a blocking caller

    /// One transaction (READ COMMITTED: every statement sees what committed before it, which is what the
    /// compare-and-set re-reads rely on), committed when `body` returns, rolled back when it throws.
    func transaction<T: Sendable>(
        timeout: Duration? = nil, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) throws -> T {
        try checkOpen()
        let client = client
        let logger = logger
        return try bridge.wait(timeout: timeout) {
            try await client.withConnection { connection in
                try await connection.query("BEGIN", logger: logger)
                do {
                    let value = try await body(connection)
                    try await connection.query("COMMIT", logger: logger)
                    return value
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
        }
    }

    /// One read-only REPEATABLE READ transaction: every query of `body` sees the same snapshot.
    func snapshot<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) throws -> T {
        let logger = logger
        return try transaction { connection in
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger)
            return try await body(connection)
        }
    }

    /// One statement outside an explicit transaction, its rows collected.
    func rows(_ query: PostgresQuery) throws -> [PostgresRandomAccessRow] {
        try checkOpen()
        let client = client
        let logger = logger
        return try bridge.wait {
            try await client.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
        }
    }
}

extension PostgresConnection {
    /// Runs `query` and collects its rows.
    func rows(_ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRandomAccessRow] {
        try await self.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
    }

    /// Runs a statement whose rows (if any) are not needed.
    func run(_ query: PostgresQuery, _ logger: Logger) async throws {
        _ = try await self.query(query, logger: logger).collect()
    }
}

extension PostgresRandomAccessRow {
    func int64(_ column: String) throws -> Int64 { try self[column].decode(Int64.self) }
    func int(_ column: String) throws -> Int { Int(try self[column].decode(Int64.self)) }
    func optionalInt64(_ column: String) throws -> Int64? { try self[column].decode(Int64?.self) }
    func string(_ column: String) throws -> String { try self[column].decode(String.self) }
    func optionalString(_ column: String) throws -> String? { try self[column].decode(String?.self) }
    func data(_ column: String) throws -> Data { try self[column].decode(Data.self) }
    func double(_ column: String) throws -> Double { try self[column].decode(Double.self) }
    func date(_ column: String) throws -> Date { try self[column].decode(Date.self) }

    /// `model_version`, `freeze_point`, `hyper_hash` of this row.
    func stamps() throws -> FeatureStamps {
        FeatureStamps(
            modelVersion: ModelVersion(UInt64(try int64("model_version"))), freezePoint: FreezePoint(try int("freeze_point")),
            hyperParameterHash: try string("hyper_hash"))
    }
}

extension PSQLError {
    /// The server's SQLSTATE, e.g. `23505` (unique violation).
    var sqlState: String? { serverInfo?[.sqlState] }
}

extension Error {
    /// A constraint the server refused the statement for (class 23), as PostgreSQL's SQLSTATE.
    var integrityViolation: String? {
        guard let state = (self as? PSQLError)?.sqlState, state.hasPrefix("23") else { return nil }
        return state
    }
}
