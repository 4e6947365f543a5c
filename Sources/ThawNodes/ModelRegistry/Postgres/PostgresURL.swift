import Foundation

/// A `postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]` URL, the form a
/// topology's `database:` takes for a server (docs/DEPLOYMENT.md).
struct PostgresURL: Sendable, Equatable {
    enum TLSMode: String, Sendable { case disable, prefer, require }

    var user: String
    var password: String?
    var host: String
    var port: Int
    var database: String
    var tls: TLSMode

    static func isPostgres(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// - Throws: ``RegistryError`` `.valueOutOfRange` naming what is wrong with the URL.
    init(_ text: String) throws(RegistryError) {
        guard Self.isPostgres(text), let components = URLComponents(string: text) else {
            throw RegistryError(.valueOutOfRange, "not a postgres:// URL: \(Self.redacted(text))")
        }
        guard let host = components.host, !host.isEmpty else {
            throw RegistryError(.valueOutOfRange, "postgres URL without a host: \(Self.redacted(text))")
        }
        guard let user = components.user, !user.isEmpty else {
            throw RegistryError(.valueOutOfRange, "postgres URL without a user: \(Self.redacted(text))")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else {
            throw RegistryError(.valueOutOfRange, "postgres URL without a database name: \(Self.redacted(text))")
        }
        var tls = TLSMode.prefer
        for item in components.queryItems ?? [] {
            switch item.name {
            case "sslmode":
                guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                    throw RegistryError(
                        .valueOutOfRange, "sslmode '\(item.value ?? "")' is not disable, prefer or require")
                }
                tls = mode
            default:
                throw RegistryError(.valueOutOfRange, "unknown postgres URL parameter '\(item.name)'")
            }
        }
        self.user = user.removingPercentEncoding ?? user
        self.password = components.password.map { $0.removingPercentEncoding ?? $0 }
        self.host = host
        self.port = components.port ?? 5432
        self.database = database
        self.tls = tls
    }

    /// The URL with its password replaced, for logs and errors.
    static func redacted(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.password != nil else { return text }
        components.password = "***"
        return components.string ?? "postgres://(unparseable)"
    }

    var redacted: String { "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)" }
}
