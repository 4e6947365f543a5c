import Foundation
import Testing
import ThawNodes
import ThawTestKit

/// Issue 18: live key revocation. Real processes over tcp with CURVE; `thaw keys revoke` edits the
/// allowlist while they run, and the cloud nodes reload it without a restart.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct KeyRevocationTests {
    @Test func aDeviceWhoseKeyIsRevokedMidRunIsRefusedWhileTheOthersCarryOn() async throws {
        let workspace = try Folder()
        let file = try Self.topology(in: workspace.path)
        let keys = "\(workspace.path)/keys"
        let maker = try await NodeProcess(name: "keys", arguments: ["keys", "topology", file], hardTimeout: .seconds(60))
        #expect(try await maker.waitForExit(timeout: .seconds(50)) == .exited(0))

        // Both device nodes are listed: `phones` (2 phones) and `strangers` (1 phone).
        var nodes: [NodeProcess] = []
        do {
            for (name, role) in [
                ("registry", "registry"), ("coordinator", "coordinator"), ("worker", "worker"), ("phones", "device"),
                ("strangers", "device"),
            ] {
                // Only the registry and the coordinator read the base model file.
                let model = ["registry", "coordinator"].contains(role) ? ["--base-model", workspace.model] : []
                let node = try await NodeProcess(
                    name: name,
                    arguments: [role, "--topology", file, "--node", name, "--state-dir", "\(workspace.path)/state"] + model,
                    hardTimeout: .seconds(300))
                nodes.append(node)
                _ = try await node.waitForReady(timeout: .seconds(60))
            }
        } catch {
            for node in nodes.reversed() {
                node.printOutput()
                _ = try? await node.terminate(grace: .seconds(2))
            }
            throw error
        }
        let (registry, worker, strangers) = (nodes[0], nodes[2], nodes[4])
        func audit() throws -> RegistryAudit {
            let store = try RegistryStore(path: "\(workspace.path)/registry.sqlite")
            defer { try? store.close() }
            return try store.audit()
        }
        func stored(_ device: String) -> Int { ((try? audit())?.sequencesByDevice[device] ?? []).count }
        do {
            // Both devices work over CURVE: batches from each are stored.
            #expect(
                try await DistributedSystemTests.waitUntil(.seconds(150)) {
                    stored("strangers-0") >= 1 && stored("phones-0") >= 1
                }, "both devices should have batches stored before the revocation")

            let revoke = try await NodeProcess(
                name: "revoke", arguments: ["keys", "revoke", "strangers", "--topology", file], hardTimeout: .seconds(60))
            #expect(try await revoke.waitForExit(timeout: .seconds(50)) == .exited(0))
            #expect(revoke.output.contains { $0.contains("revoked device:strangers key") })
            let allowlist = try Allowlist.load(path: "\(keys)/allowlist")
            #expect(!allowlist.lists(Principal(kind: .device, name: "strangers")))
            #expect(allowlist.lists(Principal(kind: .device, name: "phones")))

            // Every cloud node that binds tcp reloads the file by itself (no restart, no signal).
            for node in [registry, nodes[1], worker] {
                #expect(
                    try await DistributedSystemTests.waitUntil(.seconds(20)) {
                        node.output.contains { $0.contains("allowlist reloaded") && $0.contains("device:strangers") }
                    }, "\(node.name) did not reload the allowlist")
            }
            // From then on the revoked device is refused on its open connection: the worker refuses its
            // batches (never acknowledged), the registry its head pulls.
            #expect(
                try await DistributedSystemTests.waitUntil(.seconds(60)) {
                    worker.output.contains { $0.contains("refused a message") && $0.contains("strangers-0") }
                        || registry.output.contains { $0.contains("refused a message") && $0.contains("device:strangers") }
                }, "the revoked device's messages were not refused")
            let strangersAfterRevocation = stored("strangers-0")
            // The others carry on: `phones` reaches its goal (every annotated sample stored and trained,
            // a head swapped in on each phone), while nothing more from `strangers` is stored.
            let phones = nodes[3]
            #expect(
                try await DistributedSystemTests.waitUntil(.seconds(180)) {
                    phones.output.contains { $0.contains("\"goal-reached\"") }
                }, "the listed device did not reach its goal after another key was revoked")
            #expect(stored("strangers-0") == strangersAfterRevocation, "a revoked device's batch was stored")
            #expect(strangers.exitStatus == nil)
            for line in (worker.output + registry.output).filter({ $0.contains("strangers") }).prefix(4) {
                print("[revocation] \(line.prefix(300))")
            }

            // A SIGHUP reloads too (the file is unchanged, so the list stays as it is).
            _ = registry.send(signal: SIGHUP)
            #expect(
                try await DistributedSystemTests.waitUntil(.seconds(20)) {
                    registry.output.contains { $0.contains("allowlist reloaded") && $0.contains("SIGHUP") }
                }, "the registry did not reload on SIGHUP")
            #expect(registry.exitStatus == nil)
        } catch {
            for node in nodes.reversed() {
                node.printOutput()
                _ = try? await node.terminate(grace: .seconds(2))
            }
            throw error
        }
        for node in nodes.reversed() {
            #expect(try await node.terminate(grace: .seconds(10)) == .exited(0))
        }
    }
}

extension KeyRevocationTests {
    /// A temporary folder with the suite-wide small base model (no pretraining of its own).
    final class Folder {
        let path: String
        let model: String

        init() throws {
            model = try FaultToleranceTests.baseModel.get()
            path = "/tmp/thaw-kr-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }

        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    /// CurveSecurityTests' topology (tcp with CURVE, two device nodes) in `path`, with the suite's model.
    static func topology(in path: String) throws -> String {
        let ports = try CurveSecurityTests.freePorts(4)
        let text = """
            name: revocation
            seed: 42
            model:
              cache: \(try FaultToleranceTests.baseModel.get())
            goal:
              heads-per-device: 1
            security:
              keys: \(path)/keys
            nodes:
              - name: coordinator
                role: coordinator
                endpoints:
                  publish: tcp://127.0.0.1:\(ports[0])
                  control: tcp://127.0.0.1:\(ports[1])
                options:
                  freeze-point: 7
                  heartbeat-interval: 500ms
              - name: registry
                role: registry
                endpoints:
                  router: tcp://127.0.0.1:\(ports[2])
                options:
                  database: \(path)/registry.sqlite
              - name: worker
                role: worker
                endpoints:
                  pull: tcp://127.0.0.1:\(ports[3])
                options:
                  epochs: 2
              - name: phones
                role: device
                count: 2
                options:
                  annotation-share: 0.5
                  flush:
                    samples: 8
                    interval: 2s
              - name: strangers
                role: device
                count: 1

            """
        let file = "\(path)/topology.yaml"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }
}
