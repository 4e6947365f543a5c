import Foundation
import Testing
import ThawBench
import ThawData
import ThawModel
import ThawNN
import ThawNodes
import ThawTestKit
import ThawTopology
import ThawWire
import ThawZMQ

/// The registry's promises seen from outside, against real `thaw registry|coordinator|worker` processes:
/// the test itself plays a phone (``SyntheticPhone``), pushing batches computed with the base model's backbone.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct RegistryContractTests {
    typealias Workspace = DistributedSystemTests.Workspace

    static func phone(_ workspace: Workspace, user: String, device: String) async throws -> SyntheticPhone {
        SyntheticPhone(
            model: try ModelCheckpoint.load(from: "\(workspace.path)/base-model.thaw").makeModel(),
            state: try await status(workspace), images: try HandwritingDataset.shipped().test, user: user,
            device: device)
    }

    static func push(_ messages: [ThawMessage], to endpoints: [Endpoint]) async throws {
        try await SyntheticPhone.push(messages, to: endpoints)
    }

    static func workerEndpoints(_ topology: String) throws -> [Endpoint] {
        try Topology.load(path: topology).instances(of: .worker).compactMap { $0.endpoints["pull"] }
            .map { Endpoint($0.description) }
    }

    /// Registry, coordinator and `workers` workers; runs `body`, then stops them all on every path.
    static func withCloud(
        workers: Int, autoFreeze: String? = nil, _ body: (Workspace, String, [NodeProcess]) async throws -> Void
    ) async throws {
        let workspace = try Workspace()
        let topology = try workspace.topology(workers: workers, phones: 1, autoFreeze: autoFreeze)
        // A node with count 1 keeps its plain name; more instances are numbered.
        let names = ["registry", "coordinator"] + (workers == 1 ? ["worker"] : (0..<workers).map { "worker-\($0)" })
        let nodes = try await DistributedSystemTests.startNodes(workspace, topology: topology, names: names)
        do {
            // Workers drop batches that arrive before their first heartbeat (devices re-send; the test's
            // synthetic phone does not): wait for two heartbeat intervals (500 ms each) first.
            try await Task.sleep(for: .milliseconds(1500))
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

    static func status(_ workspace: Workspace) async throws -> DeploymentState {
        try await ControlClient(endpoint: Endpoint("ipc://\(workspace.path)/ctl")).send(.status)
    }

    /// Opens the registry's database read-only-in-practice (SQLite WAL lets a second process read).
    static func heads(_ workspace: Workspace, user: String) throws -> [HeadRecord] {
        let store = try RegistryStore(path: "\(workspace.path)/registry.sqlite")
        defer { try? store.close() }
        return try store.headHistory(UserID(user))
    }

    @Test func aPullWithTheCurrentHashIsNotModifiedAndTheServedHashIsTheHeadsContentHash() async throws {
        try await Self.withCloud(workers: 1) { workspace, topology, _ in
            let probe = try await Self.phone(workspace, user: "writer-probe", device: "probe-0")
            try await Self.push([probe.batch(seq: 1, count: 8)], to: try Self.workerEndpoints(topology))
            let registry = Endpoint("ipc://\(workspace.path)/reg")
            func pull(_ request: HeadRequest) async throws -> HeadReply {
                let reply = try await OneShotRequest.send(
                    .headRequest(request), to: registry, sender: "probe", timeout: .seconds(10), peer: "registry")
                return try #require({ if case .headReply(let head) = reply { head } else { nil } }())
            }
            var first = try await pull(probe.headRequest)
            let deadline = ContinuousClock.now + .seconds(90)
            while first.status != .head, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(300))
                first = try await pull(probe.headRequest)
            }
            #expect(first.status == .head)
            #expect(first.durableSeqs == [1])
            let parameters = try #require(first.headParameters).scalars
            let architecture = try ModelCheckpoint.load(from: "\(workspace.path)/base-model.thaw").architecture
            let expected = ContentHash.head(
                parameters: parameters, freezePoint: probe.state.freezePoint, architecture: architecture)
            #expect(first.headHash == expected.hex, "the registry serves the head's SHA-256 content hash")

            var conditional = probe.headRequest
            conditional.haveHash = first.headHash
            let second = try await pull(conditional)
            #expect(second.status == .notModified)
            #expect(second.headHash == first.headHash && second.headVersion == first.headVersion)
            #expect(second.headParameters == nil, "not-modified carries no parameters")
        }
    }

    @Test func duplicateAndResentBatchesAreStoredAndTrainedOnce() async throws {
        try await Self.withCloud(workers: 1) { workspace, topology, _ in
            let probe = try await Self.phone(workspace, user: "writer-dup", device: "probe-1")
            let endpoints = try Self.workerEndpoints(topology)
            // Seq 1 twice back to back (a re-send racing the original), then seq 2, then seq 1 again late.
            try await Self.push([probe.batch(seq: 1, count: 8), probe.batch(seq: 1, count: 8), probe.batch(seq: 2, count: 8)], to: endpoints)
            #expect(try await DistributedSystemTests.waitUntil(.seconds(90)) {
                ((try? Self.heads(workspace, user: probe.user))?.last?.samples ?? 0) >= 16
            })
            let headsBefore = try Self.heads(workspace, user: probe.user).count
            try await Self.push([probe.batch(seq: 1, count: 8)], to: endpoints)
            try await Task.sleep(for: .seconds(3))

            let store = try RegistryStore(path: "\(workspace.path)/registry.sqlite")
            defer { try? store.close() }
            let stamps = FeatureStamps(probe.state)
            #expect(try store.durableSequences(device: DeviceID(probe.device)) == [1, 2])
            #expect(try store.featureCount(UserID(probe.user), stamps: stamps) == 16, "every sample stored once")
            let heads = try store.headHistory(UserID(probe.user))
            // At most one head per distinct batch (a worker may coalesce both into one round): duplicates
            // were recognised and not trained again, and the late re-send of seq 1 made no new head.
            #expect((1...2).contains(heads.count))
            #expect(heads.count == headsBefore)
            #expect(heads.last?.samples == 16)
        }
    }

    @Test func twoWorkersRacingOnOneUserLeaveOneLinearHistoryCoveringEveryBatch() async throws {
        try await Self.withCloud(workers: 2) { workspace, topology, _ in
            let probe = try await Self.phone(workspace, user: "writer-race", device: "probe-2")
            let endpoints = try Self.workerEndpoints(topology)
            #expect(endpoints.count == 2)
            let batches = (1...6).map { probe.batch(seq: UInt64($0), count: 8) }
            try await Self.push(batches, to: endpoints)
            #expect(try await DistributedSystemTests.waitUntil(.seconds(120)) {
                ((try? Self.heads(workspace, user: probe.user))?.last?.samples ?? 0) >= 48
            })
            let heads = try Self.heads(workspace, user: probe.user)
            #expect(!heads.isEmpty)
            // Compare-and-set keeps the history linear: version n was committed on top of n - 1 (the
            // oldest versions may have been pruned, so the kept ones are consecutive up to the latest).
            for (head, next) in zip(heads, heads.dropFirst()) {
                #expect(next.version == head.version + 1 && next.parentVersion == head.version)
            }
            #expect(heads.allSatisfy { $0.parentVersion + 1 == $0.version })
            // Training sets only grow, and the last head covers all 6 batches.
            #expect(zip(heads, heads.dropFirst()).allSatisfy { $0.samples <= $1.samples })
            #expect(heads.last?.samples == 48)
        }
    }

    @Test func theCoordinatorThawsALayerItselfOnceTheMedianUserHasEnoughStoredSamples() async throws {
        try await Self.withCloud(
            workers: 1, autoFreeze: "{ median-samples: 16, interval: 1s, min-freeze-point: 6 }"
        ) { workspace, topology, _ in
            let probe = try await Self.phone(workspace, user: "writer-auto", device: "probe-3")
            #expect(probe.state.freezePoint == FreezePoint(7))
            // 8 samples: below the threshold, nothing moves.
            try await Self.push([probe.batch(seq: 1, count: 8)], to: try Self.workerEndpoints(topology))
            try await Task.sleep(for: .seconds(7))
            #expect(try await Self.status(workspace).freezePoint == FreezePoint(7))
            // 16 samples stored at k = 7: the coordinator learns it from the registry and thaws layer 6.
            try await Self.push([probe.batch(seq: 2, count: 8)], to: try Self.workerEndpoints(topology))
            var state = try await Self.status(workspace)
            let deadline = ContinuousClock.now + .seconds(60)
            while state.freezePoint == FreezePoint(7), ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(500))
                state = try await Self.status(workspace)
            }
            #expect(state.freezePoint == FreezePoint(6))
            #expect(state.epoch == probe.state.epoch + 1)
            // Never below the floor, whatever is stored.
            try await Task.sleep(for: .seconds(7))
            #expect(try await Self.status(workspace).freezePoint == FreezePoint(6))
        }
    }
}

/// A client written from docs/PROTOCOL.md alone (scripts/thaw_client.py: pyzmq + protobuf, classes
/// generated by protoc at run time) against the live cloud: it learns the deployment from a heartbeat,
/// verifies the base model's hash, pushes a batch to a worker, pulls the head with several requests in
/// flight (replies matched by `in_reply_to`), verifies the head's content hash and waits for its
/// `HeadAnnounce`. Needs /usr/bin/python3 with python3-zmq and python3-protobuf and protoc
/// (scripts/bootstrap.sh installs them); skipped when they are missing.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct PythonClientTests {
    static var pythonReady: Bool {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"),
            FileManager.default.isExecutableFile(atPath: "/usr/bin/protoc")
        else { return false }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        probe.arguments = ["-c", "import zmq, google.protobuf"]
        probe.standardError = FileHandle.nullDevice
        guard (try? probe.run()) != nil else { return false }
        probe.waitUntilExit()
        return probe.terminationStatus == 0
    }

    static var repositoryRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    @Test(.enabled(if: pythonReady)) func thePythonClientPushesABatchAndVerifiesItsHead() async throws {
        try await RegistryContractTests.withCloud(workers: 1) { workspace, _, _ in
            let client = Process()
            client.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            client.arguments = [
                "\(Self.repositoryRoot)/scripts/thaw_client.py", "--registry", "ipc://\(workspace.path)/reg",
                "--worker", "ipc://\(workspace.path)/pull", "--coordinator", "ipc://\(workspace.path)/pub",
                "--announce", "ipc://\(workspace.path)/heads", "--timeout", "120",
            ]
            let output = Pipe()
            client.standardOutput = output
            client.standardError = output
            try client.run()
            let text = await Task.detached { String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }.value
            client.waitUntilExit()
            print(text)
            #expect(client.terminationStatus == 0, "\(text)")
            #expect(text.contains("thaw_client: OK"))
        }
    }
}
