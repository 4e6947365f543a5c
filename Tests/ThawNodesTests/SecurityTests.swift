import Foundation
import Logging
import Testing
import ThawLauncher
import ThawNodes
import ThawTopology
import ThawWire
import ThawZMQ

/// Allowlist, key files and the access policy that binds an authenticated key to its users.
@Suite struct SecurityTests {
    static func key() throws -> String { try CurveKeyPair.generate().publicKey }

    static func folder() throws -> String {
        let path = "/tmp/thaw-sec-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    // MARK: - Allowlist

    @Test func allowlistTextRoundTripsAndKeysMayContainHashSigns() throws {
        // Z85 keys can contain '#', so only a '#' at the start of a line is a comment.
        let odd = "#" + String(try Self.key().dropFirst())
        let entries = [
            Allowlist.Entry(publicKey: try Self.key(), principal: Principal(kind: .registry, name: "registry")),
            Allowlist.Entry(
                publicKey: try Self.key(), principal: Principal(kind: .device, name: "phones"),
                users: ["writer-1", "writer-2"]),
        ]
        let list = try Allowlist(entries: entries)
        let parsed = try Allowlist.parse(list.render(), origin: "t")
        #expect(parsed == list)
        #expect(parsed.users(of: Principal(kind: .device, name: "phones")) == ["writer-1", "writer-2"])
        if CurveKeyPair.isValidKey(odd) {
            let withHash = try Allowlist.parse("\(odd) worker:worker\n", origin: "t")
            #expect(withHash.entry(forKey: odd)?.principal == Principal(kind: .worker, name: "worker"))
        }
    }

    @Test func allowlistRefusesBadLinesWithFileAndLine() throws {
        let key = try Self.key()
        let cases = [
            "not-a-key device:phones writer-1",
            "\(key) phones writer-1",
            "\(key) worker:worker writer-1",
            "\(key) device:a u\n\(key) device:b u",
            "\(key) device:a u1\n\(try Self.key()) device:a u2",
            "\(key)",
        ]
        for text in cases {
            #expect(throws: SecurityError.self, "\(text)") { try Allowlist.parse(text, origin: "list") }
        }
        do {
            _ = try Allowlist.parse("# header\n\n\(key) phones", origin: "list")
            Issue.record("accepted a principal without a kind")
        } catch let error as SecurityError {
            #expect(error.path == "list:3")
        }
    }

    // MARK: - Key files

    @Test func secretKeyFilesAreMode0600AndLooseOnesAreRefused() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let keys = try CurveKeyPair.generate()
        try KeyFile.write(keys, for: Principal(kind: .worker, name: "worker"), directory: folder)
        let secret = KeyFile.secretPath(folder, "worker")
        let mode = try FileManager.default.attributesOfItem(atPath: secret)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try KeyFile.readKeyPair(path: secret) == keys)
        #expect(try KeyFile.readPublicKey(path: KeyFile.publicPath(folder, "worker")) == keys.publicKey)
        #expect(!(try String(contentsOfFile: KeyFile.publicPath(folder, "worker"), encoding: .utf8)).contains(keys.secretKey))
        // Never overwritten by accident.
        #expect(throws: SecurityError.self) {
            try KeyFile.write(try CurveKeyPair.generate(), for: Principal(kind: .worker, name: "worker"), directory: folder)
        }
        chmod(secret, 0o644)
        do {
            _ = try KeyFile.readKeyPair(path: secret)
            Issue.record("read a world-readable secret key")
        } catch let error as SecurityError {
            #expect(error.code == .insecurePermissions)
        }
    }

    @Test func topologyKeysCoverEveryNodeAndCtlAndKeepExistingKeys() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let topology = try Topology.embedded()
        let keys = TopologyKeys(topology: topology, directory: folder, allowlistPath: "\(folder)/allowlist")
        let first = try keys.generate(deviceUsers: ["phones": ["writer-7", "writer-9"]])
        #expect(Set(first.created) == Set(topology.nodes.map(\.name) + ["ctl"]))
        let second = try keys.generate(deviceUsers: ["phones": ["writer-7", "writer-9"]])
        #expect(second.created.isEmpty)
        #expect(second.allowlist == first.allowlist)
        let loaded = try Allowlist.load(path: "\(folder)/allowlist")
        #expect(loaded.users(of: Principal(kind: .device, name: "phones")) == ["writer-7", "writer-9"])
        #expect(loaded.lists(Principal(kind: .ctl, name: "ctl")))

        // A node's CURVE setup: its own key, every tcp server's key file, the allowlist when it binds.
        let curve = try #require(try topology.curve(keyName: "worker", binds: true, keysDirectory: folder))
        #expect(curve.keys == (try KeyFile.readKeyPair(path: KeyFile.secretPath(folder, "worker"))))
        #expect(curve.serverKeyFiles[Endpoint("tcp://127.0.0.1:5703")] == KeyFile.publicPath(folder, "registry"))
        #expect(curve.serverKeyFiles[Endpoint("tcp://127.0.0.1:5711")] == KeyFile.publicPath(folder, "worker"))
        #expect(curve.allowlist == loaded)
        var off = topology
        off.security.curve = false
        #expect(try off.curve(keyName: "worker", binds: true, keysDirectory: folder) == nil)
    }

    @Test func secureSpecsMakeTCPServersAuthenticateAndTrustEachPeersKey() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let registry = try CurveKeyPair.generate()
        try KeyFile.write(registry, for: Principal(kind: .registry, name: "registry"), directory: folder)
        let own = try CurveKeyPair.generate()
        let curve = NodeCurve(
            keys: own, serverKeyFiles: [Endpoint("tcp://h:1"): KeyFile.publicPath(folder, "registry")],
            allowlist: try Allowlist(entries: []))
        let specs = try curve.secure([
            SocketSpec(kind: .pull, bind: [Endpoint("tcp://*:2")]),
            SocketSpec(kind: .dealer, connect: [Endpoint("tcp://h:1"), Endpoint("ipc:///tmp/x")]),
            SocketSpec(kind: .sub, bind: [Endpoint("ipc:///tmp/y")]),
        ])
        #expect(specs[0].options.contains(.curveServer(true)))
        #expect(specs[0].options.contains(.zapEnforceDomain(true)))
        #expect(specs[1].connectOptions[Endpoint("tcp://h:1")]?.contains(.curveServerKey(registry.publicKey)) == true)
        #expect(specs[1].connectOptions[Endpoint("ipc:///tmp/x")] == [.curveServer(false)])
        #expect(specs[2] == SocketSpec(kind: .sub, bind: [Endpoint("ipc:///tmp/y")]))
        #expect(throws: SecurityError.self) {
            try curve.secure([SocketSpec(kind: .dealer, connect: [Endpoint("tcp://unknown:9")])])
        }
        #expect(NodeCurve.policy(curve, bound: Endpoint("ipc:///tmp/y")) == nil)
        #expect(NodeCurve.policy(curve, bound: Endpoint("tcp://*:2")) != nil)
    }

    // MARK: - Access policy

    static func policy() throws -> AccessPolicy {
        AccessPolicy(
            allowlist: try Allowlist(entries: [
                .init(publicKey: try key(), principal: Principal(kind: .device, name: "phones"), users: ["writer-1"]),
                .init(publicKey: try key(), principal: Principal(kind: .device, name: "tablets"), users: ["writer-2"]),
                .init(publicKey: try key(), principal: Principal(kind: .worker, name: "worker")),
                .init(publicKey: try key(), principal: Principal(kind: .ctl, name: "ctl")),
            ]))
    }

    static func headRequest(user: String, device: String) -> ThawMessage {
        .headRequest(HeadRequest(userID: user, deviceID: device, haveHash: "", modelVersion: 1, freezePoint: 2))
    }

    static func batch(user: String, device: String) -> ThawWire.FeatureBatch {
        ThawWire.FeatureBatch(
            userID: user, deviceID: device, deviceSeq: 1, modelVersion: 1, modelHash: "m", freezePoint: 2,
            hyperHash: "h", sampleIDs: [1], labels: [3], createdAtMs: 0,
            activations: WireTensor(shape: [1, 1], scalars: [0]))
    }

    @Test func aDeviceKeyPullsOnlyItsOwnUsersHeadsUnderItsOwnDeviceIDs() throws {
        let policy = try Self.policy()
        #expect(policy.checkRegistry(Self.headRequest(user: "writer-1", device: "phones-0"), from: "device:phones") == nil)
        #expect(policy.checkRegistry(Self.headRequest(user: "writer-2", device: "phones-0"), from: "device:phones") != nil)
        #expect(policy.checkRegistry(Self.headRequest(user: "writer-1", device: "tablets-0"), from: "device:phones") != nil)
        #expect(policy.checkRegistry(Self.headRequest(user: "writer-2", device: "tablets-3"), from: "device:tablets") == nil)
        #expect(policy.checkRegistry(Self.headRequest(user: "writer-2", device: ""), from: "worker:worker") == nil)
        #expect(policy.checkRegistry(Self.headRequest(user: "writer-1", device: "phones-0"), from: nil) != nil)
        #expect(policy.checkRegistry(Self.headRequest(user: "writer-1", device: "phones-0"), from: "device:ghost") != nil)
        #expect(policy.checkRegistry(.baseModelRequest(BaseModelRequest(modelVersion: 1)), from: "device:phones") == nil)
    }

    @Test func onlyWorkersStoreFetchAndCommitAndOnlyDevicesSendBatches() throws {
        let policy = try Self.policy()
        let batch = Self.batch(user: "writer-1", device: "phones-0")
        #expect(policy.checkRegistry(.featureBatch(batch), from: "device:phones") != nil)
        #expect(policy.checkRegistry(.featureBatch(batch), from: "worker:worker") == nil)
        #expect(policy.checkBatch(batch, from: "device:phones") == nil)
        #expect(policy.checkBatch(batch, from: "device:tablets") != nil)
        #expect(policy.checkBatch(Self.batch(user: "writer-1", device: "tablets-0"), from: "device:phones") != nil)
        #expect(policy.checkBatch(batch, from: "worker:worker") != nil)
        #expect(policy.checkBatch(batch, from: nil) != nil)
        #expect(policy.checkControl(from: "ctl:ctl") == nil)
        #expect(policy.checkControl(from: "device:phones") != nil)
    }

    // MARK: - Live revocation

    @Test func revokingRemovesEveryKeyOfAPrincipalByNodeNamePrincipalOrKey() throws {
        let phonesKeys = [try Self.key(), try Self.key()]
        let tabletsKey = try Self.key()
        let list = try Allowlist(entries: [
            .init(publicKey: phonesKeys[0], principal: Principal(kind: .device, name: "phones"), users: ["writer-1"]),
            .init(publicKey: phonesKeys[1], principal: Principal(kind: .device, name: "phones"), users: ["writer-1"]),
            .init(publicKey: tabletsKey, principal: Principal(kind: .device, name: "tablets"), users: ["writer-2"]),
        ])
        let (byName, revoked) = list.revoking("phones")
        #expect(revoked.map(\.publicKey) == phonesKeys)
        #expect(!byName.lists(Principal(kind: .device, name: "phones")))
        #expect(byName.entry(forKey: phonesKeys[0]) == nil && byName.entry(forKey: tabletsKey) != nil)
        #expect(list.revoking("device:phones").list == byName)
        // One key of two (a rotation): the principal stays listed with its other key.
        let (oneKey, one) = list.revoking(phonesKeys[0])
        #expect(one.count == 1 && oneKey.lists(Principal(kind: .device, name: "phones")))
        #expect(list.revoking("nobody").revoked.isEmpty)
        // The rendered text parses back to the same list.
        #expect(try Allowlist.parse(byName.render(), origin: "t") == byName)
    }

    @Test func aLiveAllowlistReloadRefusesARevokedKeyAtTheHandshakeAndOnOpenConnections() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = "\(folder)/allowlist"
        let phones = try CurveKeyPair.generate()
        let tablets = try CurveKeyPair.generate()
        let list = try Allowlist(entries: [
            .init(publicKey: phones.publicKey, principal: Principal(kind: .device, name: "phones"), users: ["writer-1"]),
            .init(publicKey: tablets.publicKey, principal: Principal(kind: .device, name: "tablets"), users: ["writer-2"]),
        ])
        try list.render().write(toFile: path, atomically: true, encoding: .utf8)
        let live = try LiveAllowlist(path: path)
        let logger = Logger(label: "test")
        let policy = AccessPolicy(live: live)
        let authenticator = CurveAuthenticator(live: live, logger: logger)
        func handshake(_ key: CurveKeyPair) throws -> ZAPReply {
            let binary = try #require(CurveKeyPair.binaryKey(fromZ85: key.publicKey))
            return authenticator.authenticate(
                ZAPRequest(requestID: [1], domain: "thaw", address: "127.0.0.1", mechanism: "CURVE", credentials: [binary]))
        }
        let batch = Self.batch(user: "writer-2", device: "tablets-0")
        #expect(try handshake(tablets).status == .success)
        #expect(policy.checkBatch(batch, from: "device:tablets") == nil)

        try list.revoking("tablets").list.render().write(toFile: path, atomically: true, encoding: .utf8)
        // Not yet reloaded: the old list is still in force.
        #expect(policy.checkBatch(batch, from: "device:tablets") == nil)
        let outcome = try #require(live.reload(reason: "test", logger: logger))
        #expect(outcome.revoked.map(\.principal.name) == ["tablets"] && outcome.added.isEmpty)
        #expect(try handshake(tablets).status == .authenticationFailure)
        #expect(policy.checkBatch(batch, from: "device:tablets") != nil)
        #expect(try handshake(phones).status == .success)
        #expect(policy.checkBatch(Self.batch(user: "writer-1", device: "phones-0"), from: "device:phones") == nil)

        // A broken file is not applied: the list in force stays.
        try "not an allowlist line\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(live.reload(reason: "test", logger: logger) == nil)
        #expect(try handshake(phones).status == .success)
        #expect(live.reloads == 1)
    }
}
