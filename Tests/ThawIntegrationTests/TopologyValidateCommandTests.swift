import Foundation
import Testing
import ThawTestKit

/// `thaw topology validate` as a real process: exit status and output.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct TopologyValidateCommandTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func validFileExitsZeroWithSummary() async throws {
        let path = Self.root.appendingPathComponent("Topologies/local.yaml").path
        let node = try await NodeProcess(name: "validate", arguments: ["topology", "validate", path])
        #expect(try await node.waitForExit(timeout: .seconds(30)) == .exited(0))
        #expect(node.output.contains { $0.hasPrefix("[validate stdout] ok: 6 nodes (1 coordinator") })
    }

    @Test func brokenFileExitsNonZeroWithDiagnostic() async throws {
        let path = Self.root.appendingPathComponent("Tests/ThawTopologyTests/Fixtures/unknown-role.yaml").path
        let node = try await NodeProcess(name: "validate", arguments: ["topology", "validate", path])
        #expect(try await node.waitForExit(timeout: .seconds(30)) == .exited(1))
        #expect(node.output.contains("[validate stderr] \(path): nodes[2].role: unknown role 'wrker' (expected one of coordinator, registry, worker, device, monitor, fedavg)"))
    }
}
