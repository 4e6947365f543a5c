import Foundation
import Testing
import ThawModel
import ThawNN
import ThawNodes
import ThawTestKit
import ThawZMQ

/// A device process with many phones, as a real process: a deployment change reaches every phone while
/// they upload, its state is in one fleet store, and SIGTERM stops it cleanly while it is busy.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct DeviceFleetSystemTests {
    typealias Workspace = DistributedSystemTests.Workspace

    @Test func aBusyFleetAppliesAModelChangeToEveryPhoneAndStopsOnSIGTERM() async throws {
        let phones = 200
        let workspace = try Workspace()
        let topology = try workspace.topology(workers: 1, phones: phones)
        let nodes = try await DistributedSystemTests.startNodes(
            workspace, topology: topology, names: ["registry", "coordinator", "worker", "phones"])
        let device = nodes[3]
        do {
            // Uploading: batches are going out.
            #expect(try await DistributedSystemTests.waitUntil(.seconds(120)) {
                device.output.count { $0.contains("\"event\":\"batch-sent\"") } >= 20
            })
            let publisher = ModelPublisher(
                registry: Endpoint("ipc://\(workspace.path)/reg"),
                coordinator: ControlClient(endpoint: Endpoint("ipc://\(workspace.path)/ctl")))
            _ = try await publisher.publish(
                checkpointAt: try DeploymentChangeTests.nextModel(workspace, version: 2))
            #expect(try await DistributedSystemTests.waitUntil(.seconds(60)) {
                !DeploymentChangeTests.lines(device, "deployment-applied", "\"modelVersion\":2").isEmpty
            })
            let applied = try #require(DeploymentChangeTests.lines(device, "deployment-applied", "\"modelVersion\":2").first)
            // Every phone applied it, and reported its own latency.
            #expect(applied.contains("\"phones\":\(phones)"), "\(applied)")
            #expect(applied.contains("\"count\":\(phones)"), "\(applied)")
            // Still busy after the change (v2 activations recomputed and uploaded), then SIGTERM: a clean exit.
            let sentBefore = device.output.count { $0.contains("\"event\":\"batch-sent\"") }
            #expect(try await DistributedSystemTests.waitUntil(.seconds(60)) {
                device.output.count { $0.contains("\"event\":\"batch-sent\"") } > sentBefore
            })
            let status = try await device.terminate(grace: .seconds(10))
            #expect(status == .exited(0), "\(status): \(device.output.suffix(5))")
            // Every phone printed its report, and the fleet store holds every phone that annotated.
            #expect(device.output.count { $0.contains("\"event\":\"device-report\"") } == phones)
            let reports = try DeviceFleetNode.persistedReports(stateDirectory: "\(workspace.path)/state/phones")
            #expect(!reports.isEmpty && reports.count <= phones)
            #expect(reports.allSatisfy { $0.device.hasPrefix("phones-") })
        } catch {
            for node in nodes.reversed() {
                node.printOutput()
                _ = try? await node.terminate(grace: .seconds(2))
            }
            throw error
        }
        for node in nodes.reversed() { _ = try await node.terminate(grace: .seconds(10)) }
    }
}
