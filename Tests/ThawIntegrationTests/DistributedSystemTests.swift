import Foundation
import Testing
import ThawData
import ThawLearning
import ThawModel
import ThawNN
import ThawNodes
import ThawTestKit
import ThawZMQ

/// The FedEx flow as real `thaw` processes on ipc:// endpoints in a temporary folder.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct DistributedSystemTests {
    /// A short-path folder (ipc paths are limited to 107 bytes) with a small pretrained base model.
    final class Workspace {
        let path: String

        init() throws {
            path = "/tmp/thaw-it-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            // A small CNN, briefly pretrained so that personalisation has room to help (debug builds are slow).
            let job = PretrainJob(
                architecture: .smallCNN(), epochs: 2, batchSize: 32, learningRate: 0.05, seed: 7, trainingLimit: 1200)
            let result = job.run(on: try HandwritingDataset.shipped())
            try ModelCheckpoint.save(result.model, version: ModelVersion(1), to: "\(path)/base-model.thaw")
        }

        deinit { try? FileManager.default.removeItem(atPath: path) }

        /// The default topology's shape on ipc endpoints: coordinator, registry, `workers` workers,
        /// one device process with `phones` phones, a monitor.
        func topology(workers: Int = 2, phones: Int = 3) throws -> String {
            let text = """
                name: integration
                seed: 42
                model:
                  cache: \(path)/base-model.thaw
                goal:
                  heads-per-device: 1
                  duration: 3m
                nodes:
                  - name: coordinator
                    role: coordinator
                    endpoints:
                      publish: ipc://\(path)/pub
                      control: ipc://\(path)/ctl
                    options:
                      freeze-point: 7
                      heartbeat-interval: 500ms
                  - name: registry
                    role: registry
                    endpoints:
                      router: ipc://\(path)/reg
                    options:
                      database: \(path)/registry.sqlite
                  - name: worker
                    role: worker
                    count: \(workers)
                    endpoints:
                      pull: ipc://\(path)/pull
                    options:
                      epochs: 5
                      learning-rate: 0.05
                  - name: phones
                    role: device
                    count: \(phones)
                    options:
                      annotation-share: 0.5
                      flush:
                        samples: 8
                        interval: 2s
                  - name: monitor
                    role: monitor
                    endpoints:
                      metrics: ipc://\(path)/metrics

                """
            let file = "\(path)/topology.yaml"
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }
    }

    @Test func devicesPersonaliseAndEveryUserGetsAHead() async throws {
        let workspace = try Workspace()
        let topology = try workspace.topology()
        let up = try NodeProcess(
            name: "up", arguments: ["up", topology, "--out", "\(workspace.path)/out", "--time-limit", "150"],
            hardTimeout: .seconds(240))
        let status = try await up.waitForExit(timeout: .seconds(220))
        let output = up.output.joined(separator: "\n")
        if status != .exited(0) { up.printOutput() }
        #expect(status == .exited(0))
        #expect(output.contains("Thaw run report (goal reached)"))
        #expect(!output.contains("did not exit cleanly"))
        // "mean held-out accuracy 71.2% -> 88.0%; 3 of 3 users improved; ..."
        let summary = try #require(up.output.first { $0.contains("mean held-out accuracy") })
        let numbers = summary.split(whereSeparator: { !"0123456789.".contains($0) }).compactMap { Double($0) }
        let (before, after, improved, users) = (numbers[0], numbers[1], numbers[2], numbers[3])
        #expect(after > before, "mean held-out accuracy should rise over the base model: \(summary)")
        #expect(improved >= 1 && users == 3, "\(summary)")
        // Every phone swapped in at least one personal head (the goal requires it).
        let heads = try #require(summary.split(separator: ",").first { $0.contains("heads swapped in") })
        #expect((Double(heads.split(separator: " ").last ?? "0") ?? 0) >= users, "\(summary)")
    }

    @Test func coordinatorMovesTheFreezePointAndNeverGoesBackwardsAcrossARestart() async throws {
        let workspace = try Workspace()
        let topology = try workspace.topology()
        let arguments = [
            "coordinator", "--topology", topology, "--node", "coordinator",
            "--base-model", "\(workspace.path)/base-model.thaw", "--state-dir", "\(workspace.path)/state",
        ]
        let client = ControlClient(endpoint: Endpoint("ipc://\(workspace.path)/ctl"))

        let first = try NodeProcess(name: "coordinator", arguments: arguments)
        _ = try await first.waitForReady()
        let initial = try await client.send(.status)
        #expect(initial.freezePoint == FreezePoint(7))
        let moved = try await client.send(.freeze(6))
        #expect(moved.freezePoint == FreezePoint(6))
        #expect(moved.epoch == initial.epoch + 1)
        await #expect(throws: NodeError.self) { try await client.send(.freeze(99)) }
        await #expect(throws: NodeError.self) { try await client.send(.publish(version: 1, hash: "00")) }
        #expect(try await first.terminate() == .exited(0))

        let second = try NodeProcess(name: "coordinator", arguments: arguments)
        _ = try await second.waitForReady()
        let restored = try await client.send(.status)
        #expect(restored.freezePoint == FreezePoint(6))
        #expect(restored.epoch == moved.epoch)
        #expect(try await second.terminate() == .exited(0))
    }
}
