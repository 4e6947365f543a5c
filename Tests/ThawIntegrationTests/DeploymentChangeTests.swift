import Foundation
import Testing
import ThawModel
import ThawNN
import ThawNodes
import ThawTestKit
import ThawZMQ

/// Deployment changes reaching real device processes: a new base model version, and a device that joins
/// after a freeze-point move it never saw broadcast.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct DeploymentChangeTests {
    typealias Workspace = DistributedSystemTests.Workspace

    /// Starts `names` from a 1-worker, 2-phone topology, runs `body`, and stops every node on every path.
    static func withNodes(
        _ names: [String], _ body: (Workspace, String, [NodeProcess]) async throws -> Void
    ) async throws {
        let workspace = try Workspace()
        let topology = try workspace.topology(workers: 1, phones: 2)
        let nodes = try await DistributedSystemTests.startNodes(workspace, topology: topology, names: names)
        do {
            try await body(workspace, topology, nodes)
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

    static func lines(_ device: NodeProcess, _ event: String, _ fragment: String) -> [String] {
        device.output.filter { $0.contains("\"event\":\"\(event)\"") && $0.contains(fragment) }
    }

    /// The same architecture with every weight nudged: a genuinely different model, saved as `version`.
    static func nextModel(_ workspace: Workspace, version: UInt64) throws -> String {
        var contents = try ModelCheckpoint.load(from: "\(workspace.path)/base-model.thaw")
        contents.version = ModelVersion(version)
        contents.parameters = contents.parameters.enumerated().map { index, value in
            value * 1.02 + 0.001 * Float(sin(Double(index)))
        }
        let path = "\(workspace.path)/base-model-v\(version).thaw"
        try ModelCheckpoint.save(contents, to: path)
        return path
    }

    @Test func aNewModelVersionEvictsStaleEntriesAndOnlyItsHeadsAreSwappedIn() async throws {
        try await Self.withNodes(["registry", "coordinator", "worker", "phones"]) { workspace, _, nodes in
            let device = nodes[3]
            #expect(try await DistributedSystemTests.waitUntil(.seconds(90)) {
                Self.lines(device, "head-swapped", "\"modelVersion\":1").count >= 2
            })
            let publisher = ModelPublisher(
                registry: Endpoint("ipc://\(workspace.path)/reg"),
                coordinator: ControlClient(endpoint: Endpoint("ipc://\(workspace.path)/ctl")))
            let state = try await publisher.publish(checkpointAt: try Self.nextModel(workspace, version: 2))
            #expect(state.modelVersion == ModelVersion(2))

            // The device process applies the announcement: entries stamped v1 are evicted.
            #expect(try await DistributedSystemTests.waitUntil(.seconds(30)) {
                !Self.lines(device, "deployment-applied", "\"modelVersion\":2").isEmpty
            })
            let applied = try #require(Self.lines(device, "deployment-applied", "\"modelVersion\":2").first)
            let evicted = try #require(applied.firstMatch(of: /"evicted":(\d+)/).map { Int($0.1) ?? 0 })
            #expect(evicted > 0, "cached v1 activations must be evicted: \(applied)")
            let oldSwaps = Self.lines(device, "head-swapped", "\"modelVersion\":1").count

            // Annotated samples are recomputed under v2, re-uploaded, and heads trained on v2 come back.
            #expect(try await DistributedSystemTests.waitUntil(.seconds(90)) {
                Self.lines(device, "head-swapped", "\"modelVersion\":2").count >= 2
            })
            #expect(Self.lines(device, "head-swapped", "\"modelVersion\":1").count == oldSwaps)

            // Publishing the same version again is refused: versions never go backwards or repeat.
            await #expect(throws: NodeError.self) {
                try await publisher.publish(checkpointAt: "\(workspace.path)/base-model-v2.thaw")
            }
        }
    }

    @Test func aDeviceThatJoinsAfterAFreezeMoveConvergesFromTheHeartbeat() async throws {
        try await Self.withNodes(["registry", "coordinator", "worker"]) { workspace, topology, _ in
            let client = ControlClient(endpoint: Endpoint("ipc://\(workspace.path)/ctl"))
            #expect(try await client.send(.freeze(6)).freezePoint == FreezePoint(6))
            // The FreezePointChange broadcast is long gone when the device subscribes.
            let late = try await DistributedSystemTests.startNodes(workspace, topology: topology, names: ["phones"])
            let device = late[0]
            do {
                #expect(try await DistributedSystemTests.waitUntil(.seconds(90)) {
                    DistributedSystemTests.swaps(device, freezePoint: 6) >= 2
                })
                #expect(DistributedSystemTests.swaps(device, freezePoint: 7) == 0)
            } catch {
                device.printOutput()
                _ = try? await device.terminate(grace: .seconds(2))
                throw error
            }
            #expect(try await device.terminate(grace: .seconds(10)) == .exited(0))
        }
    }
}
