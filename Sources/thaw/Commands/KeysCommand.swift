import ArgumentParser
import Foundation
import ThawData
import ThawLauncher
import ThawNodes
import ThawTopology
import ThawZMQ

/// `thaw keys …`: CURVE key pairs (czmq certificate files; secrets mode 0600) and the allowlist the
/// cloud side checks clients against. See docs/SECURITY.md.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Make CURVE key pairs and the allowlist (docs/SECURITY.md).",
        subcommands: [ForTopology.self, Node.self, Devices.self, Revoke.self])

    /// Adds `entries` to the allowlist at `path` (created if missing) and writes it back.
    static func append(_ entries: [Allowlist.Entry], toAllowlist path: String) throws {
        let existing = FileManager.default.fileExists(atPath: path) ? try Allowlist.load(path: path).entries : []
        let list = try Allowlist(entries: existing + entries, origin: path)
        try list.render().write(toFile: path, atomically: true, encoding: .utf8)
        print("allowlist \(path): \(list.entries.count) keys")
    }

    static func parseUsers(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    struct ForTopology: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "topology",
            abstract: "Keys for every node of a topology plus `ctl`, and the allowlist (existing keys are kept).")
        @Argument(help: "Topology YAML file (default: the embedded local topology).")
        var topology: String?
        @Option(help: "Key folder (default: the topology's security.keys, else thaw-out/keys).")
        var keys: String?
        @Option(help: "MNIST-with-writers folder the devices use instead of the shipped subset (for `users: auto`).")
        var data: String?

        func run() throws {
            let loaded = try topology.map { try Topology.load(path: $0) } ?? Topology.embedded()
            let directory = loaded.keysDirectory(override: keys)
            let dataset = try data.map { try HandwritingDataset.load(directory: URL(fileURLWithPath: $0)) }
                ?? HandwritingDataset.shipped()
            let outcome = try TopologyKeys.generate(for: loaded, keysOverride: keys, dataset: dataset)
            print("keys in \(directory): created \(outcome.created.joined(separator: ", ").ifEmpty("none")); "
                + "kept \(outcome.kept.joined(separator: ", ").ifEmpty("none"))")
            print("allowlist \(outcome.allowlistPath): \(outcome.allowlist.entries.count) keys")
        }
    }

    struct Node: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "node", abstract: "One key pair for a node (named after it), optionally added to an allowlist.")
        @Argument(help: "The key name: the topology node name (or `ctl`).")
        var name: String
        @Option(help: "coordinator, registry, worker, monitor, device or ctl (default: device).")
        var kind: String = "device"
        @Option(help: "Comma-separated users a device key may act for.")
        var users: String?
        @Option(help: "Key folder.")
        var keys: String = "thaw-out/keys"
        @Option(help: "Add the key to this allowlist file (created if missing).")
        var allowlist: String?

        func validate() throws {
            guard let parsed = Principal.Kind(rawValue: kind) else {
                throw ValidationError("unknown kind '\(kind)'")
            }
            if parsed.isCloud, users != nil { throw ValidationError("only device keys list users") }
        }

        func run() throws {
            let principal = Principal(kind: Principal.Kind(rawValue: kind)!, name: name)
            let users = KeysCommand.parseUsers(users)
            let pair = try CurveKeyPair.generate()
            try KeyFile.write(pair, for: principal, users: users, directory: keys)
            print("\(principal): \(KeyFile.publicPath(keys, name)) (public), \(KeyFile.secretPath(keys, name)) (secret, 0600)")
            if let allowlist {
                try KeysCommand.append(
                    [Allowlist.Entry(publicKey: pair.publicKey, principal: principal, users: users)], toAllowlist: allowlist)
            }
        }
    }

    struct Devices: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "devices",
            abstract: "N device key pairs, <prefix>-0 … <prefix>-(N-1), each bound to one user, added to an allowlist.")
        @Option(help: "How many devices.")
        var count: Int
        @Option(help: "Key name prefix.")
        var prefix: String = "device"
        @Option(help: "Comma-separated users, one per device (default: each device's own name).")
        var users: String?
        @Option(help: "Key folder.")
        var keys: String = "thaw-out/keys"
        @Option(help: "Allowlist file to add the keys to (default: <keys>/allowlist).")
        var allowlist: String?

        func validate() throws {
            guard (1...100_000).contains(count) else { throw ValidationError("--count must be 1…100000") }
            let listed = KeysCommand.parseUsers(users)
            if users != nil, listed.count != count {
                throw ValidationError("--users lists \(listed.count) users but --count is \(count)")
            }
        }

        func run() throws {
            let listed = KeysCommand.parseUsers(users)
            var entries: [Allowlist.Entry] = []
            for index in 0..<count {
                let principal = Principal(kind: .device, name: "\(prefix)-\(index)")
                let user = listed.isEmpty ? principal.name : listed[index]
                let pair = try CurveKeyPair.generate()
                try KeyFile.write(pair, for: principal, users: [user], directory: keys)
                entries.append(Allowlist.Entry(publicKey: pair.publicKey, principal: principal, users: [user]))
            }
            print("\(count) device key pairs in \(keys) (secrets mode 0600)")
            try KeysCommand.append(entries, toAllowlist: allowlist ?? "\(keys)/allowlist")
        }
    }
}

extension KeysCommand {
    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke",
            abstract: "Remove a key from the allowlist; running cloud nodes reload it and refuse the key at once.",
            discussion: """
                NAME is a principal (`device:phones`), a node name (`phones`: every key of that node) or a public \
                key. The allowlist is rewritten atomically; running nodes reload it within about a second (or at \
                once on SIGHUP), refuse new connections with the key and refuse messages still arriving on its \
                open connections. See docs/SECURITY.md.
                """)
        @Argument(help: "Principal (device:phones), node name (phones) or public key to revoke.")
        var name: String
        @Option(help: "Topology YAML file whose allowlist to edit (default: the embedded local topology).")
        var topology: String?
        @Option(help: "Key folder (its allowlist is edited; as `--keys` of the nodes).")
        var keys: String?
        @Option(help: "The allowlist file to edit (overrides --topology and --keys).")
        var allowlist: String?

        func run() throws {
            let path: String
            if let allowlist {
                path = allowlist
            } else {
                let loaded = try topology.map { try Topology.load(path: $0) } ?? Topology.embedded()
                path = loaded.allowlistPath(keysDirectory: keys)
            }
            let list = try Allowlist.load(path: path)
            let (kept, revoked) = list.revoking(name)
            guard !revoked.isEmpty else {
                throw ValidationError("\(path): no key of '\(name)' (principals: \(Set(list.entries.map(\.principal.userID)).sorted().joined(separator: ", ")))")
            }
            try kept.render().write(toFile: path, atomically: true, encoding: .utf8)
            for entry in revoked { print("revoked \(entry.principal) key \(entry.publicKey)") }
            print("allowlist \(path): \(kept.entries.count) keys; running nodes reload it within a second (or send them SIGHUP)")
        }
    }
}

extension TopologyKeys {
    /// Keys for `topology` in `keysDirectory`; device users are picked from `dataset` exactly as the
    /// device processes pick them (so pass the data set they run with: `--data`, else the shipped one).
    /// - Parameter keysOverride: the command's `--keys`; nil uses the topology's folder and allowlist.
    static func generate(for topology: Topology, keysOverride: String?, dataset: HandwritingDataset) throws -> Outcome {
        var users: [String: [String]] = [:]
        for node in topology.nodes where node.role == .device {
            users[node.name] = try topology.deviceUsers(of: node, dataset: dataset)
        }
        let keys = TopologyKeys(
            topology: topology, directory: topology.keysDirectory(override: keysOverride),
            allowlistPath: topology.allowlistPath(keysDirectory: keysOverride))
        return try keys.generate(deviceUsers: users)
    }
}

extension String {
    fileprivate func ifEmpty(_ replacement: String) -> String { isEmpty ? replacement : self }
}
