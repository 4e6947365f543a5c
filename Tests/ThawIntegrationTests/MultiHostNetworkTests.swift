import Foundation
import Synchronization
import Testing
import ThawNodes
import ThawTestKit
import ThawTopology

/// Issue 16: a real multi-host run. Three hosts made of network namespaces on this machine (cloud-1:
/// coordinator, registry, monitor; cloud-2: trainers; edge-1: the phones), as `Topologies/multi-host.yaml`
/// lays them out, over tcp with CURVE; each host holds only its own nodes' secret keys. The run goes on
/// while first the phones' host and then the trainers' host lose their link for a while, and still
/// reaches its goal with a clean audit.
@Suite(.serialized, .timeLimit(.minutes(8)))
struct MultiHostNetworkTests {
    /// The hosts of `Topologies/multi-host.yaml` and the nodes each one runs.
    static let hosts: [(host: String, nodes: [String])] = [
        ("cloud-1", ["coordinator", "registry", "monitor"]),
        ("cloud-2", ["trainer"]),
        ("edge-1", ["edge-phones"]),
    ]
    /// Nodes that bind tcp, so their public keys go to every host.
    static let servers = ["coordinator", "registry", "trainer", "monitor"]
    static let trainers = 3

    /// `Topologies/multi-host.yaml` with what differs on a test machine: the model, data and key paths,
    /// a smaller goal and the integration tests' quick training settings. Node names, hosts, endpoints
    /// and counts are the file's own (the test checks that).
    static func topology(in path: String, model: String) -> String {
        """
        name: multi-host
        seed: 42
        model:
          cache: \(model)
        goal:
          heads-per-device: 2
        security:
          curve: on
          keys: \(path)/admin-keys
          allowlist: \(path)/admin-keys/allowlist
        nodes:
          - name: coordinator
            role: coordinator
            host: cloud-1
            endpoints:
              publish: tcp://cloud-1:5701
              control: tcp://cloud-1:5702
            options:
              freeze-point: 7
              heartbeat-interval: 500ms
          - name: registry
            role: registry
            host: cloud-1
            endpoints:
              router: tcp://cloud-1:5703
              announce: tcp://cloud-1:5705
            options:
              database: \(path)/registry.sqlite
          - name: trainer
            role: worker
            host: cloud-2
            count: \(trainers)
            endpoints:
              pull: tcp://cloud-2:5710
            options:
              epochs: 2
              learning-rate: 0.05
          - name: edge-phones
            role: device
            host: edge-1
            count: 4
            peers: [coordinator, registry, trainer]
            options:
              annotation-share: 0.5
              head-swap-gate: off
              flush:
                samples: 8
                interval: 2s
          - name: monitor
            role: monitor
            host: cloud-1
            endpoints:
              metrics: tcp://cloud-1:5709

        """
    }

    /// The repository's `Topologies/multi-host.yaml` (this file is at Tests/ThawIntegrationTests/).
    static var documentedTopology: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Topologies/multi-host.yaml").path
    }

    @Test(
        .enabled(if: geteuid() == 0, "not root: the multi-host test creates network namespaces (ip netns)"),
        .enabled(if: NetworkLab.ipTool != nil, "no `ip` command: install iproute2 (scripts/test does)"))
    func threeHostsOverCurveSurviveCutLinksAndReachTheGoalWithNothingLost() async throws {
        Self.removeLeftoverFolders()
        let path = "/tmp/thaw-mh-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = "\(path)/topology.yaml"
        try Self.topology(in: path, model: try FaultToleranceTests.baseModel.get())
            .write(toFile: file, atomically: true, encoding: .utf8)

        // The generated file keeps the documented one's nodes, hosts, endpoints and counts.
        let documented = try Topology.load(path: Self.documentedTopology)
        let generated = try Topology.load(path: file)
        #expect(documented.instances.map(\.name) == generated.instances.map(\.name))
        for (a, b) in zip(documented.instances, generated.instances) {
            #expect(a.spec.host == b.spec.host && a.spec.role == b.spec.role && a.spec.count == b.spec.count, "\(a.name)")
            #expect(a.endpoints.mapValues(\.description) == b.endpoints.mapValues(\.description), "\(a.name)")
        }

        // Keys made once on an "admin machine", then each host gets only its own secrets.
        let maker = try await NodeProcess(name: "keys", arguments: ["keys", "topology", file], hardTimeout: .seconds(60))
        let made = try await maker.waitForExit(timeout: .seconds(50))
        if made != .exited(0) { maker.printOutput() }
        #expect(made == .exited(0))
        try Self.distributeKeys(from: "\(path)/admin-keys", to: path)
        for (host, nodes) in Self.hosts {
            let files = try FileManager.default.contentsOfDirectory(atPath: "\(path)/\(host)/keys")
            #expect(Set(files.filter { $0.hasSuffix(".key_secret") }) == Set(nodes.map { "\($0).key_secret" }), "\(host): \(files)")
            #expect(files.contains("allowlist") == (host != "edge-1"), "\(host): \(files)")
        }
        // Leave only the hosts' copies: no process can fall back to the admin folder.
        try FileManager.default.removeItem(atPath: "\(path)/admin-keys")

        let lab = try NetworkLab(hosts: Self.hosts.map(\.host))
        defer { lab.tearDown() }
        let run = MultiHostRun(lab: lab, path: path, topology: file)
        do {
            try await run.startAll()
            try await Self.cutLinksAndReachTheGoal(run, lab: lab)
        } catch {
            run.printOutput()
            await run.stopAll()
            throw error
        }
        let exits = await run.stopAll()
        for (name, exit) in exits { #expect(exit == .exited(0), "\(name) did not stop cleanly: \(exit.map(String.init(describing:)) ?? "unknown")") }

        // Every key was accepted everywhere: no cloud node refused a peer.
        for node in run.all() where !(node.name == "edge-phones") {
            #expect(node.output.filter { $0.contains("refused a CURVE client") }.isEmpty, "\(node.name) refused a client")
        }
        // The audit, as an operator would run it, and the sequences: nothing lost, nothing trained twice.
        let audit = try await NodeProcess(
            name: "audit", arguments: ["ctl", "audit", "--database", "\(path)/registry.sqlite", "--strict"],
            hardTimeout: .seconds(60))
        let audited = try await audit.waitForExit(timeout: .seconds(50))
        if audited != .exited(0) { audit.printOutput() }
        #expect(audited == .exited(0), "thaw ctl audit --strict is not clean")
        let store = try RegistryStore(path: "\(path)/registry.sqlite")
        defer { try? store.close() }
        let result = try store.audit()
        print(
            "[multi-host] batches \(result.batches), rows \(result.featureRows), heads \(result.heads) for \(result.usersWithHeads) users; untrained \(result.untrained.count), stored twice \(result.duplicateSamples.count), conflicts \(result.conflicts.count)")
        #expect(result.isClean, "\(result)")
        #expect(result.untrained.isEmpty && result.duplicateSamples.isEmpty)
        #expect(result.usersWithHeads == 4)
        for (device, seqs) in result.sequencesByDevice {
            #expect(seqs == Array(1...UInt64(seqs.count)), "\(device) has gaps: \(seqs)")
        }
    }

    /// Under load, unplugs edge-1 (the phones) and then cloud-2 (the trainers) for `outage` each, checking
    /// that each cut is real (no tcp connection across it) and healed; then waits for the goal.
    static func cutLinksAndReachTheGoal(_ run: MultiHostRun, lab: NetworkLab, outage: Duration = .seconds(10)) async throws {
        let phones = try run.node("edge-phones")
        // Under load: batches from edge-1 went through cloud-2's trainers into cloud-1's registry.
        try await run.waitUntil("batches stored across the hosts", timeout: .seconds(180)) {
            try run.audit().batches >= 2
        }
        for (host, peer, port) in [("edge-1", "cloud-1", 5703), ("cloud-2", "cloud-1", 5703)] {
            let before = try run.audit()
            let connectionsBefore = lab.connections(in: host, toPort: port)
            try lab.unplug(host)
            let cutAt = ContinuousClock.now
            let blocked = try await SupervisionTests.UpRun.onThread { !lab.canConnect(from: host, to: peer, port: port) }
            #expect(blocked, "\(host) still reaches \(peer) with its link down")
            try await Task.sleep(until: cutAt + outage)
            try lab.plug(host)
            let pluggedAt = ContinuousClock.now
            // The probe blocks for up to 2 s, so it runs on a thread of its own, not on the cooperative pool.
            let reconnectDeadline = pluggedAt + .seconds(30)
            while !(try await SupervisionTests.UpRun.onThread { lab.canConnect(from: host, to: peer, port: port) }) {
                guard ContinuousClock.now < reconnectDeadline else {
                    throw FaultToleranceTests.TestFailure("\(host) does not reach \(peer) 30 s after its link came back")
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            // Healed: work crosses the link again (more batches stored), unless the goal came first.
            try await run.waitUntil("batches stored after \(host)'s link came back", timeout: .seconds(120)) {
                try run.audit().batches > before.batches || phones.output.contains { $0.contains("\"event\":\"goal-reached\"") }
            }
            let after = try run.audit()
            let connectionsAfter = lab.connections(in: host, toPort: port)
            let healed = ContinuousClock.now - pluggedAt
            let seconds = Double(healed.components.seconds) + Double(healed.components.attoseconds) / 1e18
            print(
                "[multi-host] \(host) unplugged for \(outage): \(before.batches) batches stored before the cut, \(after.batches) \(String(format: "%.1f", seconds)) s after the link came back; connections to :\(port) before \(connectionsBefore.sorted()), after \(connectionsAfter.sorted())")
        }
        try await run.waitUntil("goal-reached on edge-1", timeout: .seconds(240)) {
            phones.output.contains { $0.contains("\"event\":\"goal-reached\"") }
        }
        let backoffs = phones.output.filter { $0.contains("head pull failed; backing off") }.count
        print("[multi-host] goal reached; edge-1 logged \(backoffs) failed head pulls (backing off)")
    }

    /// Removes the folders of earlier test processes that were killed before their teardown (the
    /// namespaces of such runs are removed by ``NetworkLab``; their nodes exit with their parent).
    static func removeLeftoverFolders() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? [] where name.hasPrefix("thaw-mh-") {
            guard let owner = Int32(name.dropFirst("thaw-mh-".count).prefix { $0.isNumber }), owner != getpid(), kill(owner, 0) != 0
            else { continue }
            try? FileManager.default.removeItem(atPath: "/tmp/\(name)")
        }
    }

    /// Copies, for each host, its own nodes' secret keys (mode 0600 kept), every server's public key,
    /// and on cloud hosts the allowlist, into `<path>/<host>/keys` (docs/SECURITY.md, "Distribute").
    static func distributeKeys(from admin: String, to path: String) throws {
        let files = FileManager.default
        for (host, nodes) in hosts {
            let keys = "\(path)/\(host)/keys"
            try files.createDirectory(atPath: keys, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            for node in nodes { try files.copyItem(atPath: "\(admin)/\(node).key_secret", toPath: "\(keys)/\(node).key_secret") }
            for server in servers { try files.copyItem(atPath: "\(admin)/\(server).key", toPath: "\(keys)/\(server).key") }
            if host != "edge-1" { try files.copyItem(atPath: "\(admin)/allowlist", toPath: "\(keys)/allowlist") }
        }
    }
}

/// The nodes of the multi-host topology, each started inside its host's namespace with that host's
/// key folder and state folder.
final class MultiHostRun: Sendable {
    let lab: NetworkLab
    let path: String
    let topology: String
    private let nodes = Mutex<[String: NodeProcess]>([:])

    init(lab: NetworkLab, path: String, topology: String) {
        self.lab = lab
        self.path = path
        self.topology = topology
    }

    /// cloud-1's nodes, then the trainers, then the phones, each after the previous is ready.
    func startAll() async throws {
        try await start("registry", role: "registry", host: "cloud-1")
        try await start("coordinator", role: "coordinator", host: "cloud-1")
        try await start("monitor", role: "monitor", host: "cloud-1")
        for index in 0..<MultiHostNetworkTests.trainers { try await start("trainer-\(index)", role: "worker", host: "cloud-2") }
        try await start("edge-phones", role: "device", host: "edge-1")
    }

    func start(_ name: String, role: String, host: String) async throws {
        let thaw = try NodeProcess.thawExecutable().path
        let node = try await NodeProcess(
            name: name,
            arguments: lab.inside(
                host,
                [
                    thaw, role, "--topology", topology, "--node", name, "--base-model",
                    try FaultToleranceTests.baseModel.get(), "--state-dir", "\(path)/\(host)/state",
                    "--keys", "\(path)/\(host)/keys",
                ]),
            executable: URL(fileURLWithPath: NetworkLab.ipTool ?? "ip"), hardTimeout: .seconds(420))
        nodes.withLock { $0[name] = node }
        _ = try await node.waitForReady(timeout: .seconds(90))
    }

    func node(_ name: String) throws -> NodeProcess {
        guard let node = nodes.withLock({ $0[name] }) else { throw FaultToleranceTests.TestFailure("no node \(name)") }
        return node
    }

    func all() -> [NodeProcess] { nodes.withLock { Array($0.values) } }

    func audit() throws -> RegistryAudit {
        let store = try RegistryStore(path: "\(path)/registry.sqlite")
        defer { try? store.close() }
        return try store.audit()
    }

    /// Polls `condition` every 200 ms until it holds; throws after `timeout`.
    func waitUntil(_ what: String, timeout: Duration, _ condition: @Sendable () throws -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if (try? condition()) == true { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        if try condition() { return }
        throw FaultToleranceTests.TestFailure("deadline of \(timeout) passed waiting for \(what)")
    }

    func printOutput() { for node in all() { node.printOutput() } }

    /// Stops the phones first, then the trainers and cloud-1's nodes; never throws.
    /// - Returns: each node's exit (nil when it could not be stopped).
    @discardableResult
    func stopAll() async -> [(String, NodeProcess.ExitStatus?)] {
        let all = nodes.withLock { $0 }
        let order = ["edge-phones"] + (0..<MultiHostNetworkTests.trainers).map { "trainer-\($0)" } + ["monitor", "coordinator", "registry"]
        var exits: [(String, NodeProcess.ExitStatus?)] = []
        for name in order {
            guard let node = all[name] else { continue }
            exits.append((name, try? await node.terminate(grace: .seconds(10))))
        }
        return exits
    }
}
