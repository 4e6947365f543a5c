import Foundation
import ThawTopology
import ThawZMQ

/// Makes the key files and the allowlist of a whole topology: one key pair per node (a worker
/// node's processes share one) plus `ctl` for operators. Existing key files are kept, so running it
/// again only adds what is missing; the allowlist is rewritten from the keys on disk.
public struct TopologyKeys: Sendable {
    public let topology: Topology
    public let directory: String
    public let allowlistPath: String

    public init(topology: Topology, directory: String, allowlistPath: String) {
        self.topology = topology
        self.directory = directory
        self.allowlistPath = allowlistPath
    }

    /// What ``generate(deviceUsers:)`` did.
    public struct Outcome: Sendable {
        /// Key names written now.
        public var created: [String] = []
        /// Key names that already had files and were kept.
        public var kept: [String] = []
        public var allowlist: Allowlist
        /// Where the allowlist was written.
        public var allowlistPath: String
    }

    /// The principals of the topology: every node by its role, and the operator.
    public var principals: [Principal] {
        var result = topology.nodes.map { node in
            Principal(kind: Principal.Kind(rawValue: node.role.rawValue) ?? .device, name: node.name)
        }
        result.append(Principal(kind: .ctl, name: "ctl"))
        return result
    }

    /// Writes missing key files and the allowlist.
    /// - Parameter deviceUsers: the users each device node acts for, by node name.
    /// - Throws: ``SecurityError`` on I/O or a bad existing key file.
    public func generate(deviceUsers: [String: [String]]) throws -> Outcome {
        var entries: [Allowlist.Entry] = []
        var created: [String] = []
        var kept: [String] = []
        for principal in principals {
            let users = principal.kind == .device ? deviceUsers[principal.name] ?? [] : []
            let secret = KeyFile.secretPath(directory, principal.name)
            let keys: CurveKeyPair
            if FileManager.default.fileExists(atPath: secret) {
                // Never replace a key silently: a bad one (loose mode, garbage) is an error to fix.
                keys = try KeyFile.readKeyPair(path: secret)
                kept.append(principal.name)
            } else {
                keys = try CurveKeyPair.generate()
                try KeyFile.write(keys, for: principal, users: users, directory: directory, overwrite: true)
                created.append(principal.name)
            }
            entries.append(Allowlist.Entry(publicKey: keys.publicKey, principal: principal, users: users))
        }
        let allowlist = try Allowlist(entries: entries, origin: allowlistPath)
        try FileManager.default.createDirectory(
            atPath: (allowlistPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try allowlist.render().write(toFile: allowlistPath, atomically: true, encoding: .utf8)
        return Outcome(created: created, kept: kept, allowlist: allowlist, allowlistPath: allowlistPath)
    }
}
