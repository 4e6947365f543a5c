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
        /// `autoFreeze` is the coordinator's `auto-freeze` value (YAML flow mapping), off when nil.
        func topology(workers: Int = 2, phones: Int = 3, autoFreeze: String? = nil) throws -> String {
            try IntegrationTopology(
                modelPath: "\(path)/base-model.thaw", workers: workers, phones: phones, autoFreeze: autoFreeze
            ).write(in: path)
        }
    }

    @Test func devicesPersonaliseAndEveryUserGetsAHead() async throws {
        let workspace = try Workspace()
        let topology = try workspace.topology()
        let up = try await NodeProcess(
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

        let (moved, firstExit) = try await withNodeProcess("coordinator", arguments: arguments) { node in
            _ = try await node.waitForReady()
            let initial = try await client.send(.status)
            #expect(initial.freezePoint == FreezePoint(7))
            let moved = try await client.send(.freeze(6))
            #expect(moved.freezePoint == FreezePoint(6))
            #expect(moved.epoch == initial.epoch + 1)
            await #expect(throws: NodeError.self) { try await client.send(.freeze(99)) }
            await #expect(throws: NodeError.self) { try await client.send(.publish(version: 1, hash: "00")) }
            return moved
        }
        #expect(firstExit == .exited(0))

        let (restored, secondExit) = try await withNodeProcess("coordinator", arguments: arguments) { node in
            _ = try await node.waitForReady()
            return try await client.send(.status)
        }
        #expect(restored.freezePoint == FreezePoint(6))
        #expect(restored.epoch == moved.epoch)
        #expect(secondExit == .exited(0))
    }
}

extension DistributedSystemTests {
    /// The nodes of `topology` as separate processes (not through `thaw up`), so a test can act between steps.
    static func startNodes(_ workspace: Workspace, topology: String, names: [String]) async throws -> [NodeProcess] {
        var started: [NodeProcess] = []
        do {
            for name in names {
                let role = name.hasPrefix("worker") ? "worker" : name == "phones" ? "device" : name
                let node = try await NodeProcess(
                    name: name,
                    arguments: [
                        role, "--topology", topology, "--node", name, "--base-model",
                        "\(workspace.path)/base-model.thaw", "--state-dir", "\(workspace.path)/state",
                    ],
                    hardTimeout: .seconds(300))
                started.append(node)
                _ = try await node.waitForReady(timeout: .seconds(60))
            }
        } catch {
            for node in started.reversed() {
                node.printOutput()
                _ = try? await node.terminate()
            }
            throw error
        }
        return started
    }

    /// Lines like `{"event":"head-swapped",...,"freezePoint":6,...}` the device printed so far.
    static func swaps(_ device: NodeProcess, freezePoint: Int) -> Int {
        device.output.filter { $0.contains("\"head-swapped\"") && $0.contains("\"freezePoint\":\(freezePoint)") }.count
    }

    static func waitUntil(_ timeout: Duration, _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(200))
        }
        return condition()
    }

    @Test func aFreezePointMoveReachesDevicesAndOnlyHeadsOfTheNewPointAreSwappedIn() async throws {
        let workspace = try Workspace()
        let topology = try workspace.topology(workers: 1, phones: 2)
        let nodes = try await Self.startNodes(
            workspace, topology: topology, names: ["registry", "coordinator", "worker", "phones"])
        let device = nodes[3]
        do {
            try await Self.moveAndWatch(workspace, device: device)
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

    static func moveAndWatch(_ workspace: Workspace, device: NodeProcess) async throws {
        #expect(try await Self.waitUntil(.seconds(90)) { Self.swaps(device, freezePoint: 7) >= 2 })
        let client = ControlClient(endpoint: Endpoint("ipc://\(workspace.path)/ctl"))
        let moved = try await client.send(.freeze(6))
        #expect(moved.freezePoint == FreezePoint(6))
        // Devices rebuild their cached activations at k=6, re-upload them, and get heads trained at k=6.
        #expect(try await Self.waitUntil(.seconds(90)) { Self.swaps(device, freezePoint: 6) >= 2 })
        // After the move no head of the old point is swapped in any more.
        let oldAfterMove = Self.swaps(device, freezePoint: 7)
        try await Task.sleep(for: .seconds(3))
        #expect(Self.swaps(device, freezePoint: 7) == oldAfterMove)
    }
}
