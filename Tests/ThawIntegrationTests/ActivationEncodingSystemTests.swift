import Foundation
import Testing
import ThawTestKit

/// A deployment that uploads int8 activations, end to end: phones encode under the stamp, workers decode
/// once and train, every phone gets a head, and the upload is a quarter of float32's.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct ActivationEncodingSystemTests {
    @Test func anInt8DeploymentPersonalisesEveryPhoneWithQuarterSizeUploads() async throws {
        let up = try await Self.runUp(activationNoise: nil)
        // "... heads swapped in 3, ..., bytes sent 123456" and "phones' state files: ... annotated 40, ..."
        let summary = try #require(up.output.first { $0.contains("bytes sent") && $0.contains("mean held-out") })
        let bytes = try #require(Int(summary.split(separator: " ").last ?? ""))
        let state = try #require(up.output.first { $0.contains("phones' state files") })
        let annotatedText = try #require(state.components(separatedBy: "annotated ").last?.split(separator: ",").first)
        let annotated = try #require(Int(annotatedText))
        // A float32 activation at k = 7 is 3136 × 4 = 12,544 bytes; int8 is 3136 + 4. Even with re-sends and
        // headers, int8 uploads stay far below one float32 copy of every annotated sample.
        #expect(annotated > 0)
        #expect(bytes < annotated * 3136 * 4 / 2, "\(bytes) bytes for \(annotated) annotated samples: \(summary)")
    }

    /// The same with clipped, noised int8 uploads (docs/PRIVACY.md): the stamp carries the noise, phones and
    /// workers agree on it (nothing refused as stale or in the wrong encoding), and every phone still
    /// gets a head trained on what it uploaded.
    @Test func aNoisedDeploymentPersonalisesEveryPhoneWithoutRefusals() async throws {
        let up = try await Self.runUp(activationNoise: "{ clip: 6.5, sigma: 0.05 }")
        #expect(!up.output.joined(separator: "\n").contains("STALE_HYPER_PARAMETERS"))
    }

    /// `thaw up` of one worker and three phones uploading int8 (noised when `activationNoise` is set),
    /// after checking that the run reached its goal with nothing refused for its encoding.
    static func runUp(activationNoise: String?) async throws -> NodeProcess {
        let workspace = try DistributedSystemTests.Workspace()
        var shape = IntegrationTopology(modelPath: "\(workspace.path)/base-model.thaw", workers: 1, phones: 3)
        shape.activationEncoding = "int8"
        shape.activationNoise = activationNoise
        let topology = try shape.write(in: workspace.path)
        let up = try await NodeProcess(
            name: "up", arguments: ["up", topology, "--out", "\(workspace.path)/out", "--time-limit", "150"],
            hardTimeout: .seconds(240))
        let status = try await up.waitForExit(timeout: .seconds(220))
        if status != .exited(0) { up.printOutput() }
        #expect(status == .exited(0))
        let output = up.output.joined(separator: "\n")
        #expect(output.contains("Thaw run report (goal reached)"))
        #expect(!output.contains("wrongEncoding"))
        return up
    }
}
