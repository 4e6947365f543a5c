import Foundation
import ThawData
import ThawNodes
import ThawTopology
import ThawZMQ

extension Topology {
    /// The folder with key files: the command's `--keys`, else the topology's `security.keys`, else
    /// `thaw-out/keys` (where `thaw up` generates them).
    public func keysDirectory(override: String?) -> String {
        override ?? security.keys ?? "thaw-out/keys"
    }

    /// The allowlist file: `<keys>/allowlist` when the command gave `--keys`, else the topology's
    /// `security.allowlist`, else `<keys>/allowlist` (a `--keys` folder is self-contained).
    public func allowlistPath(keysDirectory override: String?) -> String {
        if let override { return "\(override)/allowlist" }
        return security.allowlist ?? "\(keysDirectory(override: nil))/allowlist"
    }

    /// Whether any endpoint of the deployment is protected by CURVE (tcp with `curve` on).
    public var usesCurve: Bool {
        instances.contains { instance in instance.endpoints.values.contains { security.protects($0) } }
    }

    /// Every tcp endpoint CURVE protects, as peers connect to it, with the key name of the node that
    /// binds it (a worker node's processes share the node's key).
    func curveServerKeyNames() -> [Endpoint: String] {
        var names: [Endpoint: String] = [:]
        for instance in instances {
            for endpoint in instance.endpoints.values where security.protects(endpoint) {
                names[Endpoint(endpoint.description)] = instance.spec.name
            }
        }
        return names
    }

    /// The CURVE setup of a process whose key is named `keyName` (a node name, or `ctl`), or `nil`
    /// when CURVE is off or the deployment has no tcp endpoint.
    /// - Parameter binds: whether the process binds a tcp endpoint (then it loads the allowlist).
    /// - Throws: ``SecurityError`` for a missing, unreadable or insecure key file or allowlist.
    public func curve(keyName: String, binds: Bool, keysDirectory override: String?) throws -> NodeCurve? {
        guard usesCurve else { return nil }
        let directory = keysDirectory(override: override)
        let keys = try KeyFile.readKeyPair(path: KeyFile.secretPath(directory, keyName))
        let files = curveServerKeyNames().mapValues { KeyFile.publicPath(directory, $0) }
        guard binds else { return NodeCurve(keys: keys, serverKeyFiles: files, allowlist: nil) }
        // A server reloads its allowlist on SIGHUP and when the file changes (live revocation).
        return NodeCurve(
            keys: keys, serverKeyFiles: files, live: try LiveAllowlist(path: allowlistPath(keysDirectory: override)))
    }

    /// The user ids a device node's phones act for, as `NodeSettings.device(dataset:)` assigns them
    /// (`writer-<n>`), so that the allowlist binds exactly those to the node's key.
    /// - Throws: ``NodeError`` `badConfiguration` for a user id that is not a writer number.
    public func deviceUsers(of spec: NodeSpec, dataset: HandwritingDataset) throws -> [String] {
        try deviceWriters(of: spec, dataset: dataset).map { "writer-\($0)" }
    }
}

extension NodeSettings {
    /// This node's CURVE setup (see ``Topology/curve(keyName:binds:keysDirectory:)``); its key is
    /// named after its topology node, so every process of a worker node uses the same key.
    public func curve() throws -> NodeCurve? {
        let binds = instance.endpoints.values.contains { topology.security.protects($0) }
        return try topology.curve(keyName: instance.spec.name, binds: binds, keysDirectory: keysDirectory)
    }
}
