import Foundation
import Testing
import ThawNN
import ThawNodes
import ThawTestKit
import ThawZMQ

/// Freeze-point moves across real `thaw` processes (docs/FREEZE-MOVES.md): a deeper move is absorbed
/// by the cloud with no device upload; a shallower one re-uploads only what the registry lacks; no head
/// of another freeze point is ever swapped in.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct FreezeMoveSystemTests {
    typealias System = DistributedSystemTests

    /// A JSON line a device printed (`batch-sent`, `head-swapped`, `freeze-sync`, `cache-rebuilt`).
    struct Line: Decodable {
        var event: String
        var device: String?
        var freezePoint: Int?
        var sampleIds: [UInt64]?
        var attempt: Int?
        var bytes: Int?
        var fromRaw: Int?
        var fromActivation: Int?
        var asked: Int?
        var missing: Int?
        var user: String?
    }

    static func lines(_ node: NodeProcess, _ event: String) -> [Line] {
        node.output.compactMap { text -> Line? in
            guard text.contains("\"event\":\"\(event)\""), let start = text.firstIndex(of: "{") else { return nil }
            return try? JSONDecoder().decode(Line.self, from: Data(text[start...].utf8))
        }
    }

    static func swaps(_ node: NodeProcess, at point: Int) -> Int {
        lines(node, "head-swapped").filter { $0.freezePoint == point }.count
    }

    /// Starts registry, coordinator, one worker and two phones; runs `body`; always tears them down.
    static func withSystem(_ body: (System.Workspace, [NodeProcess]) async throws -> Void) async throws {
        let workspace = try System.Workspace()
        let topology = try workspace.topology(workers: 1, phones: 2)
        let nodes = try await System.startNodes(
            workspace, topology: topology, names: ["registry", "coordinator", "worker", "phones"])
        do {
            try await body(workspace, nodes)
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

    @Test func aDeeperMoveIsAbsorbedByTheCloudWithNoDeviceUpload() async throws {
        try await Self.withSystem { workspace, nodes in
            let (registry, device) = (nodes[0], nodes[3])
            // Every phone finished its stream, everything it annotated is durable and it holds a head.
            #expect(
                try await System.waitUntil(.seconds(150)) { device.output.contains { $0.contains("goal-reached") } })
            let sentBefore = Self.lines(device, "batch-sent")
            #expect(!sentBefore.isEmpty)
            let oldSwaps = Self.swaps(device, at: 7)

            let client = ControlClient(endpoint: Endpoint("ipc://\(workspace.path)/ctl"))
            #expect(try await client.send(.freeze(8)).freezePoint == FreezePoint(8))

            // The registry advances the stored rows itself and a worker trains k=8 heads from them.
            #expect(try await System.waitUntil(.seconds(90)) { Self.swaps(device, at: 8) >= 2 })
            #expect(
                registry.output.contains { $0.contains("stored activations advanced") && $0.contains("freeze.point=8") }
            )
            // Devices advanced their own cache from the k=7 activations, never from the raw input.
            let rebuilt = Self.lines(device, "cache-rebuilt").filter { $0.freezePoint == 8 }
            #expect(rebuilt.count == 2, "\(rebuilt.count) phones rebuilt at k=8")
            #expect(rebuilt.allSatisfy { $0.fromRaw == 0 && ($0.fromActivation ?? 0) > 0 })
            // Nothing was uploaded again: no batch at all after the move.
            try await Task.sleep(for: .seconds(3))
            let sentAfter = Self.lines(device, "batch-sent")
            #expect(sentAfter.count == sentBefore.count, "devices sent \(sentAfter.count - sentBefore.count) batches")
            // No head of the old point is swapped in after the move.
            #expect(Self.swaps(device, at: 7) == oldSwaps)
        }
    }

    @Test func aShallowerMoveReuploadsOnlyWhatTheRegistryLacks() async throws {
        try await Self.withSystem { workspace, nodes in
            let device = nodes[3]
            let client = ControlClient(endpoint: Endpoint("ipc://\(workspace.path)/ctl"))
            // Some samples reach the cloud at k=7; then the point moves deeper while phones keep
            // annotating, so later samples exist in the cloud only at k=8.
            #expect(try await System.waitUntil(.seconds(90)) { Self.swaps(device, at: 7) >= 2 })
            let atEight = try await client.send(.freeze(8))
            #expect(atEight.freezePoint == FreezePoint(8))
            #expect(
                try await System.waitUntil(.seconds(150)) { device.output.contains { $0.contains("goal-reached") } })
            #expect(try await System.waitUntil(.seconds(60)) { Self.swaps(device, at: 8) >= 2 })
            let before = Self.lines(device, "batch-sent")
            let sentAt7 = Set(before.filter { $0.freezePoint == 7 }.flatMap { $0.sampleIds ?? [] })
            #expect(!sentAt7.isEmpty)
            let swapsAt8 = Self.swaps(device, at: 8)
            let swapsAt7 = Self.swaps(device, at: 7)
            // What the cloud lacks at k=7 right now, read from the registry's database: samples first
            // uploaded at k=8, and k=7 batches a worker received after the first move and advanced to k=8.
            let store = try RegistryStore(path: "\(workspace.path)/registry.sqlite")
            var lacking: Set<UInt64> = []
            var users: [String: String] = [:]
            for line in Self.lines(device, "head-swapped") { users[line.device ?? ""] = line.user }
            for (phone, user) in users {
                let ids = before.filter { $0.device == phone }.flatMap { $0.sampleIds ?? [] }
                var stamps = FeatureStamps(atEight)
                stamps.freezePoint = FreezePoint(7)
                lacking.formUnion(try store.missingSamples(UserID(user), stamps: stamps, among: Array(Set(ids))))
            }
            try store.close()

            #expect(try await client.send(.freeze(7)).freezePoint == FreezePoint(7))
            // Each phone asks which samples the registry lacks at k=7 ...
            #expect(try await System.waitUntil(.seconds(30)) { Self.lines(device, "freeze-sync").count >= 2 })
            let syncs = Self.lines(device, "freeze-sync").filter { $0.freezePoint == 7 }
            let asked = syncs.reduce(0) { $0 + ($1.asked ?? 0) }
            let missing = syncs.reduce(0) { $0 + ($1.missing ?? 0) }
            #expect(asked > 0 && missing < asked, "asked \(asked), missing \(missing)")
            #expect(missing == lacking.count)
            // ... and, once new k=7 heads arrive, it has uploaded only those: none of them had reached the
            // cloud at k=7 before, and their number is what the registry reported missing.
            #expect(try await System.waitUntil(.seconds(90)) { Self.swaps(device, at: 7) >= swapsAt7 + 2 })
            try await Task.sleep(for: .seconds(3))
            let all = Self.lines(device, "batch-sent")
            let after = all.dropFirst(before.count)
            let reuploaded = Set(after.filter { $0.freezePoint == 7 }.flatMap { $0.sampleIds ?? [] })
            // Exactly the samples the cloud lacked at k=7 are re-sent, nothing it already had.
            #expect(reuploaded == lacking, "re-uploaded \(reuploaded.sorted()), lacking \(lacking.sorted())")
            #expect(
                reuploaded.count == missing, "re-uploaded \(reuploaded.count), registry reported \(missing) missing")
            #expect(reuploaded.isDisjoint(with: sentAt7.subtracting(lacking)))
            print("shallower move k8->7: asked \(asked), missing \(missing), re-uploaded \(reuploaded.count)")
            // Heads of k=8 are not swapped in after the move back.
            #expect(Self.swaps(device, at: 8) == swapsAt8)
        }
    }
}
