import Foundation
import Testing
import ThawTestKit

/// Head downloads that cost what changed, end to end: real `thaw` processes, phones that take three heads
/// each; after the first (full) head, pulls name the running head and get a delta against it, applied
/// and verified against the announced hash before the swap.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct HeadDeltaSystemTests {
    @Test func phonesAfterTheirFirstHeadDownloadDeltasMuchSmallerThanTheHead() async throws {
        let workspace = try DistributedSystemTests.Workspace()
        var shape = IntegrationTopology(modelPath: "\(workspace.path)/base-model.thaw", workers: 1, phones: 2)
        shape.headsPerDevice = 3
        let topology = try shape.write(in: workspace.path)
        let up = try await NodeProcess(
            name: "up", arguments: ["up", topology, "--out", "\(workspace.path)/out", "--time-limit", "170"],
            hardTimeout: .seconds(260))
        let status = try await up.waitForExit(timeout: .seconds(240))
        if status != .exited(0) { up.printOutput() }
        #expect(status == .exited(0))
        let output = up.output.joined(separator: "\n")
        #expect(output.contains("Thaw run report (goal reached)"))
        #expect(!output.contains("badHeadDelta") && !output.contains("hashMismatch"))
        // "writer-… on phones-…: head v3, held-out accuracy … -> …, delta head download 812345 B"
        func bytes(_ kind: String) -> [Int] {
            up.output.filter { $0.contains("\(kind) head download") }.compactMap { line in
                line.components(separatedBy: "\(kind) head download ").last?.split(separator: " ").first.flatMap { Int($0) }
            }
        }
        let full = bytes("full")
        let deltas = bytes("delta")
        // Every full download is the whole head (4 bytes per parameter of the test model's head at k = 7);
        // every delta is smaller than that.
        let head = try #require(full.first, "the first head comes in full: \(up.output.suffix(40))")
        #expect(full.allSatisfy { $0 == head }, "full downloads: \(full)")
        #expect(deltas.count >= 2, "every phone's later heads come as deltas: \(deltas), full: \(full)")
        #expect(deltas.allSatisfy { $0 > 0 && $0 < head }, "delta sizes: \(deltas), full head \(head) B")
        print("head downloads: full \(full), deltas \(deltas)")
    }
}
