import Foundation
import Testing
import ThawNodes
import ThawTestKit

/// Issue 16: the registry on PostgreSQL, across real processes. `thaw up` runs the integration topology
/// with `database: postgres://…` (a database of its own on the server `THAW_TEST_POSTGRES_URL` names;
/// `scripts/test` starts one), reaches its goal, and the audit read from the server is clean.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct RegistryPostgresSystemTests {
    static var server: String? {
        let value = ProcessInfo.processInfo.environment["THAW_TEST_POSTGRES_URL"] ?? ""
        return value.isEmpty ? nil : value
    }

    @Test(
        .enabled(
            if: server != nil,
            "THAW_TEST_POSTGRES_URL is not set: no PostgreSQL server for the registry (scripts/test starts one)"))
    func thawUpOnPostgresReachesItsGoalWithACleanAudit() async throws {
        let server = try #require(Self.server)
        let name = "thaw_it_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        let url = try PostgresScratchDatabase.create(serverURL: server, name: name)
        defer { try? PostgresScratchDatabase.drop(serverURL: server, name: name) }
        let path = "/tmp/thaw-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let topology = try IntegrationTopology(
            name: "postgres", modelPath: try FaultToleranceTests.baseModel.get(), workers: 2, phones: 4, epochs: 3,
            flushSamples: 4, flushInterval: "1s", monitor: false, database: url
        ).write(in: path)
        let up = try await NodeProcess(
            name: "up", arguments: ["up", topology, "--out", "\(path)/out", "--time-limit", "240"],
            hardTimeout: .seconds(330))
        do {
            let status = try await up.waitForExit(timeout: .seconds(300))
            if status != .exited(0) { up.printOutput() }
            #expect(status == .exited(0))
            #expect(up.output.contains { $0.contains("Thaw run report (goal reached)") })
        } catch {
            up.printOutput()
            _ = try? await up.terminate(grace: .seconds(15))
            throw error
        }
        // Read back from the server (the registry process has exited): nothing lost, nothing twice.
        let store = try PostgresRegistryStore(url: url)
        defer { try? store.close() }
        let audit = try store.audit()
        print("[postgres-system] batches \(audit.batches), rows \(audit.featureRows), heads \(audit.heads), users \(audit.usersWithHeads)")
        #expect(audit.isClean, "\(audit)")
        #expect(audit.usersWithHeads == 4)
        #expect(audit.batches > 0)
        for (device, seqs) in audit.sequencesByDevice {
            #expect(seqs == Array(1...UInt64(seqs.count)), "\(device) has gaps: \(seqs)")
        }
    }

    /// Two registry processes over one PostgreSQL database; workers and phones talk to both. Under load,
    /// `kill -9` one registry (thaw up restarts it): the run still reaches its goal, and the database
    /// shows every stored batch trained, none stored twice, no sequence gap and no forked head history.
    /// Once on ipc, once on loopback tcp with CURVE, where each registry has its own key pair (`thaw up`
    /// makes one per node) and every client pins each registry's own key on its connection to it.
    @Test(
        .enabled(
            if: server != nil,
            "THAW_TEST_POSTGRES_URL is not set: no PostgreSQL server for the registry (scripts/test starts one)"),
        arguments: [false, true])
    func twoRegistriesOverOnePostgresSurviveAKill9WithNothingLostOrTrainedTwice(curve: Bool) async throws {
        let server = try #require(Self.server)
        let name = "thaw_it2_\(getpid())_\(UInt32.random(in: 0...UInt32.max))"
        let url = try PostgresScratchDatabase.create(serverURL: server, name: name)
        defer { try? PostgresScratchDatabase.drop(serverURL: server, name: name) }
        let path = "/tmp/thaw-pg2-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let topology = try IntegrationTopology(
            name: "postgres-replicas", modelPath: try FaultToleranceTests.baseModel.get(), workers: 2, phones: 4,
            epochs: 3, flushSamples: 4, flushInterval: "1s", monitor: false, headsPerDevice: 2, database: url,
            registries: 2, loopbackTCP: curve
        ).write(in: path)
        if curve { #expect(try String(contentsOfFile: topology, encoding: .utf8).contains("tcp://127.0.0.1:")) }
        let up = try await NodeProcess(
            name: "up", arguments: ["up", topology, "--out", "\(path)/out", "--time-limit", "280"],
            hardTimeout: .seconds(400))
        let audit: @Sendable () throws -> RegistryAudit = {
            let store = try PostgresRegistryStore(url: url)
            defer { try? store.close() }
            return try store.audit()
        }
        do {
            let killed = try await SupervisionTests.UpRun.onThread { () throws -> Bool in
                let deadline = ContinuousClock.now + .seconds(300)
                while !up.output.contains(where: { $0.contains("processes ready") }) {
                    guard ContinuousClock.now < deadline, up.exitStatus == nil else { return false }
                    usleep(100_000)
                }
                // Under load: batches are being stored, through both registries.
                while (try? audit().batches) ?? 0 < 4 {
                    guard ContinuousClock.now < deadline, up.exitStatus == nil else { return false }
                    usleep(200_000)
                }
                guard let line = up.output.last(where: { $0.contains("started registry-2 (pid ") }),
                    let range = line.range(of: "(pid "), let pid = Int32(line[range.upperBound...].prefix { $0.isNumber })
                else { return false }
                return kill(pid, SIGKILL) == 0
            }
            #expect(killed, "registry-2 was not killed under load")
            let status = try await up.waitForExit(timeout: .seconds(330))
            if status != .exited(0) { up.printOutput() }
            #expect(status == .exited(0))
            #expect(up.output.contains { $0.contains("Thaw run report (goal reached)") })
            #expect(up.output.contains { $0.contains("registry-2 exited unexpectedly (killed by signal 9") })
        } catch {
            up.printOutput()
            _ = try? await up.terminate(grace: .seconds(15))
            throw error
        }
        if curve {
            // Two key pairs, both accepted: no node refused a client, and the registries' keys differ.
            let keys = "\(path)/out/keys"
            let first = try KeyFile.readPublicKey(path: KeyFile.publicPath(keys, "registry"))
            let second = try KeyFile.readPublicKey(path: KeyFile.publicPath(keys, "registry-2"))
            #expect(first != second, "the registries share a key pair")
            for node in ["registry", "registry-2", "coordinator", "worker-0", "worker-1"] {
                let log = (try? String(contentsOfFile: "\(path)/out/logs/\(node).log", encoding: .utf8)) ?? ""
                #expect(!log.contains("refused a CURVE client"), "\(node) refused a client")
            }
        }
        // Both registries took work: each one's last "registry stopped" line counts its writes.
        for registry in ["registry", "registry-2"] {
            let log = (try? String(contentsOfFile: "\(path)/out/logs/\(registry).log", encoding: .utf8)) ?? ""
            let stopped = log.split(separator: "\n").last { $0.contains("registry stopped") }.map(String.init)
            print("[postgres-replicas] \(registry): \(stopped ?? "no stop line")")
            let written = ["batches.stored", "commits"].compactMap { key -> Int? in
                guard let stopped, let range = stopped.range(of: "\(key)=") else { return nil }
                return Int(stopped[range.upperBound...].prefix { $0.isNumber })
            }.reduce(0, +)
            #expect(written > 0, "\(registry) stored or committed nothing: \(stopped ?? "no stop line")")
        }
        let result = try audit()
        print(
            "[postgres-replicas] batches \(result.batches), rows \(result.featureRows), heads \(result.heads), untrained \(result.untrained.count), duplicate samples \(result.duplicateSamples.count), conflicts \(result.conflicts.count)")
        #expect(result.untrained.isEmpty, "stored but never trained: \(result.untrained)")
        #expect(result.duplicateSamples.isEmpty, "stored twice: \(result.duplicateSamples)")
        #expect(result.isClean, "\(result)")
        #expect(result.usersWithHeads == 4)
        for (device, seqs) in result.sequencesByDevice {
            #expect(seqs == Array(1...UInt64(seqs.count)), "\(device) has gaps: \(seqs)")
        }
        // Every user's history is linear: versions 1…n (pruning keeps the newest), each on its parent.
        let store = try PostgresRegistryStore(url: url)
        defer { try? store.close() }
        for user in result.latestHeadVersions.keys {
            let history = try store.headHistory(UserID(user))
            #expect(zip(history, history.dropFirst()).allSatisfy { $1.version == $0.version + 1 && $1.parentVersion == $0.version })
        }
    }
}
