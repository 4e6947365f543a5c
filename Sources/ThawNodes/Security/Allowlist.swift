import Foundation
import ThawZMQ

/// The public keys the cloud side lets in, and whom each belongs to.
///
/// The file is plain text, one key per line, so it diffs and appends well:
///
/// ```text
/// # thaw allowlist: <public key (Z85, 40 chars)> <kind>:<name> [user ...]
/// rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7  registry:registry
/// Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID  device:phones  writer-12 writer-34
/// ```
///
/// A `#` starts a comment only at the start of a line: Z85 keys may contain `#`. A device entry
/// lists the users it may act for; cloud entries list none. One principal may have several keys (key
/// rotation), but they must list the same users.
public struct Allowlist: Hashable, Sendable {
    public struct Entry: Hashable, Sendable {
        public var publicKey: String
        public var principal: Principal
        /// The users a device key may act for (empty for cloud keys).
        public var users: [String]

        public init(publicKey: String, principal: Principal, users: [String] = []) {
            self.publicKey = publicKey
            self.principal = principal
            self.users = users
        }
    }

    /// In file order.
    public private(set) var entries: [Entry]
    private var byKey: [String: Entry]
    private var usersByPrincipal: [Principal: Set<String>]

    /// An allowlist of `entries`.
    /// - Throws: ``SecurityError`` `badAllowlist` for a malformed key, a key listed twice, users on a
    ///   cloud key, or one principal with two different user lists.
    public init(entries: [Entry], origin: String = "<allowlist>") throws {
        self.entries = []
        byKey = [:]
        usersByPrincipal = [:]
        for entry in entries { try add(entry, origin: origin, line: nil) }
    }

    private mutating func add(_ entry: Entry, origin: String, line: Int?) throws {
        let at = line.map { "\(origin):\($0)" } ?? origin
        guard CurveKeyPair.isValidKey(entry.publicKey) else {
            throw SecurityError(.badAllowlist, path: at, "'\(entry.publicKey)' is not a 40-character Z85 CURVE public key")
        }
        guard byKey[entry.publicKey] == nil else {
            throw SecurityError(.badAllowlist, path: at, "key \(entry.publicKey) is listed twice")
        }
        if entry.principal.kind.isCloud, !entry.users.isEmpty {
            throw SecurityError(.badAllowlist, path: at, "\(entry.principal) is a cloud key; only device keys list users")
        }
        let users = Set(entry.users)
        if let known = usersByPrincipal[entry.principal], known != users {
            throw SecurityError(.badAllowlist, path: at, "\(entry.principal) is listed again with different users")
        }
        usersByPrincipal[entry.principal] = users
        byKey[entry.publicKey] = entry
        entries.append(entry)
    }

    /// No keys at all.
    public static let empty: Allowlist = try! Allowlist(entries: [])

    /// This list without the keys of `name`: a principal (`device:phones`) or a bare node name (`phones`).
    /// - Returns: the list and the entries removed (empty when nothing matched).
    public func revoking(_ name: String) -> (list: Allowlist, revoked: [Entry]) {
        let matches: (Entry) -> Bool = { entry in
            entry.principal.userID == name || entry.principal.name == name || entry.publicKey == name
        }
        var copy = self
        copy.entries = entries.filter { !matches($0) }
        copy.byKey = copy.byKey.filter { !matches($0.value) }
        let revoked = entries.filter(matches)
        for principal in Set(revoked.map(\.principal)) where !copy.entries.contains(where: { $0.principal == principal }) {
            copy.usersByPrincipal[principal] = nil
        }
        return (copy, revoked)
    }

    /// The entry of a client's public key (Z85), if listed.
    public func entry(forKey publicKey: String) -> Entry? { byKey[publicKey] }

    /// The users `principal` may act for; empty for cloud principals and unknown ones.
    public func users(of principal: Principal) -> Set<String> { usersByPrincipal[principal] ?? [] }

    /// Whether `principal` has at least one key here.
    public func lists(_ principal: Principal) -> Bool { usersByPrincipal[principal] != nil }

    // MARK: - Text

    /// Parses allowlist text.
    /// - Throws: ``SecurityError`` `badAllowlist` naming `origin` and the line.
    public static func parse(_ text: String, origin: String) throws -> Allowlist {
        var list = try Allowlist(entries: [], origin: origin)
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard fields.count >= 2 else {
                throw SecurityError(
                    .badAllowlist, path: "\(origin):\(index + 1)", "expected '<public key> <kind>:<name> [user ...]'")
            }
            guard let principal = Principal(userID: fields[1]) else {
                let kinds = Principal.Kind.allCases.map(\.rawValue).joined(separator: ", ")
                throw SecurityError(
                    .badAllowlist, path: "\(origin):\(index + 1)",
                    "'\(fields[1])' is not <kind>:<name> (kinds: \(kinds))")
            }
            try list.add(
                Entry(publicKey: fields[0], principal: principal, users: Array(fields[2...])), origin: origin,
                line: index + 1)
        }
        return list
    }

    /// Reads and parses an allowlist file.
    /// - Throws: ``SecurityError`` `missingFile` or `badAllowlist`.
    public static func load(path: String) throws -> Allowlist {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SecurityError(
                .missingFile, path: path, "cannot read the allowlist (make one with `thaw keys topology`)")
        }
        return try parse(text, origin: path)
    }

    /// The file text: a header comment and one line per entry.
    public func render() -> String {
        var text = """
            # Thaw CURVE allowlist (docs/SECURITY.md). The cloud lets in only these public keys.
            # <public key (Z85)>  <kind>:<name>  [users a device key may act for ...]

            """
        for entry in entries {
            text += ([entry.publicKey, entry.principal.userID] + entry.users).joined(separator: "  ") + "\n"
        }
        return text
    }
}
