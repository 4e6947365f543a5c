import Foundation
import Logging
import PostgresNIO

/// Creates and drops whole databases on a PostgreSQL server: every registry test and benchmark run gets
/// a database of its own on the one throwaway cluster (`scripts/postgres-cluster.sh`), so runs never see
/// each other's rows. Not used by the registry itself.
public enum PostgresScratchDatabase {
    /// Creates database `name` (letters, digits, `_`) on the server `serverURL` names and returns the URL
    /// of the new database (the same user, host, port and parameters).
    public static func create(serverURL: String, name: String) throws -> String {
        try checkName(name)
        try run(serverURL, "CREATE DATABASE \(name)")
        return try url(serverURL, database: name)
    }

    /// Drops database `name`, ending its other sessions first (a killed registry's may linger).
    public static func drop(serverURL: String, name: String) throws {
        try checkName(name)
        try run(serverURL, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// `serverURL` with its database replaced by `database`.
    public static func url(_ serverURL: String, database: String) throws -> String {
        guard var components = URLComponents(string: serverURL) else {
            throw RegistryError(.valueOutOfRange, "not a URL: \(PostgresURL.redacted(serverURL))")
        }
        components.path = "/\(database)"
        guard let text = components.string else {
            throw RegistryError(.valueOutOfRange, "cannot form a URL for database \(database)")
        }
        return text
    }

    private static func checkName(_ name: String) throws {
        guard !name.isEmpty, name.count <= 63,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }),
            !(name.first?.isNumber ?? true)
        else { throw RegistryError(.valueOutOfRange, "'\(name)' is not a plain database name") }
    }

    private static func run(_ serverURL: String, _ statement: String) throws {
        let url = try PostgresURL(serverURL)
        let configuration = PostgresConnection.Configuration(
            host: url.host, port: url.port, username: url.user, password: url.password, database: url.database,
            tls: .disable)
        let bridge = BlockingBridge(label: "thaw.postgres.admin")
        var logger = Logger(label: "thaw.postgres.admin")
        logger.logLevel = .warning
        let log = logger
        try bridge.wait(timeout: .seconds(60)) {
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: log)
            do {
                _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: log).collect()
                try await connection.close()
            } catch {
                try? await connection.close()
                throw error
            }
        }
    }
}
