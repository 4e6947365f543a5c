import Foundation
import Synchronization
import Testing
import ThawNN
import ThawNodes
import ThawTestKit
import ThawWire
import ThawZMQ

/// A batch stamped with the old freeze point that reaches a worker after a move, across real `thaw`
/// processes: advanced by the worker after a deeper move, rejected and returned to the device through
/// the registry after a shallower one (docs/FREEZE-MOVES.md).
@Suite(.serialized, .timeLimit(.minutes(4)))
struct StaleBatchFenceSystemTests {
    typealias System = DistributedSystemTests

    /// Replies from the registry, filled by the reader task, taken by ``Probe/ask(_:)``.
    final class Inbox: Sendable {
        private let replies = Mutex<[[[UInt8]]]>([])
        func push(_ frames: [[UInt8]]) { replies.withLock { $0.append(frames) } }
        func pop() -> [[UInt8]]? { replies.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
    }

    /// A fake device: PUSHes batches to the worker and asks the registry over a DEALER.
    struct Probe {
        let loop: SocketLoop
        let push: SocketID
        let dealer: SocketID
        let inbox: Inbox
        var sequence: UInt64 = 0

        mutating func frames(_ message: ThawMessage) throws -> [Frame] {
            sequence += 1
            let metadata = WireMetadata(sender: "probe", sequence: sequence, sentAtUnixMs: 0)
            return try WireCodec.encode(message, metadata: metadata).map(Frame.init)
        }

        mutating func push(_ batch: ThawWire.FeatureBatch) async throws {
            try await loop.send(try frames(.featureBatch(batch)), on: push)
        }

        /// One request to the registry; its answer within 10 s.
        mutating func ask(_ message: ThawMessage) async throws -> ThawMessage {
            try await loop.send(try frames(message), on: dealer)
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                if let reply = inbox.pop() {
                    return try WireCodec.decode(reply).message
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw NodeError(.timeout, "no answer from the registry")
        }
    }

    static func batch(_ state: DeploymentState, freezePoint: Int, seq: UInt64, sample: UInt64) -> ThawWire.FeatureBatch
    {
        ThawWire.FeatureBatch(
            userID: "writer-probe", deviceID: "probe", deviceSeq: seq, modelVersion: state.modelVersion.number,
            modelHash: state.modelHash, freezePoint: UInt32(freezePoint), hyperHash: state.hyperParameterHash,
            sampleIDs: [sample], labels: [3], createdAtMs: 0,
            // The small CNN's activation at k=7 and k=8: 784 and 64 floats.
            activations: WireTensor(
                shape: [1, freezePoint == 7 ? 784 : 64],
                scalars: (0..<(freezePoint == 7 ? 784 : 64)).map { Float($0 % 7) / 7 }),
            epoch: state.epoch)
    }

    static func sync(_ state: DeploymentState, _ ids: [UInt64]) -> ThawMessage {
        .freezeSyncRequest(
            FreezeSyncRequest(
                userID: "writer-probe", deviceID: "probe", modelVersion: state.modelVersion.number,
                freezePoint: UInt32(state.freezePoint.index), hyperHash: state.hyperParameterHash, sampleIDs: ids))
    }

    @Test func staleBatchesAreAdvancedAfterADeeperMoveAndReturnedAfterAShallowerOne() async throws {
        let workspace = try System.Workspace()
        let topology = try workspace.topology(workers: 1, phones: 1)
        let nodes = try await System.startNodes(
            workspace, topology: topology, names: ["registry", "coordinator", "worker"])
        let worker = nodes[2]
        do {
            let control = ControlClient(endpoint: Endpoint("ipc://\(workspace.path)/ctl"))
            let atSeven = try await control.send(.status)
            let context = try ZMQContext()
            defer { try? context.shutdown() }
            try await withSocketLoop(
                context: context,
                sockets: [
                    SocketSpec(kind: .push, connect: [Endpoint("ipc://\(workspace.path)/pull")]),
                    SocketSpec(kind: .dealer, connect: [Endpoint("ipc://\(workspace.path)/reg")]),
                ]
            ) { loop in
                let inbox = Inbox()
                let reader = Task {
                    for try await delivery in loop.inbound where delivery.socket == loop.sockets[1] {
                        inbox.push(delivery.frames.map(\.bytes))
                    }
                }
                defer { reader.cancel() }
                var probe = Probe(loop: loop, push: loop.sockets[0], dealer: loop.sockets[1], inbox: inbox)

                // Deeper: a k=7 batch reaching the worker after the move to 8 is advanced and stored at 8.
                let atEight = try await control.send(.freeze(8))
                var advancedSeq: UInt64?
                for seq: UInt64 in 1...10 where advancedSeq == nil {
                    try await probe.push(Self.batch(atSeven, freezePoint: 7, seq: seq, sample: 1000 + seq))
                    if try await System.waitUntil(
                        .seconds(3),
                        {
                            worker.output.contains {
                                $0.contains("advanced a stale batch") && $0.contains("probe#\(seq)")
                            }
                        })
                    {
                        advancedSeq = seq
                    }
                }
                let seq = try #require(advancedSeq, "the worker never advanced a stale batch")
                guard case .freezeSyncReply(let held) = try await probe.ask(Self.sync(atEight, [1000 + seq])) else {
                    Issue.record("expected a freeze sync reply")
                    return
                }
                #expect(held.missingSampleIDs.isEmpty, "the advanced sample is stored at k=8")

                // Shallower: a k=8 batch reaching the worker after the move to 6 is rejected, and the
                // rejection reaches the device through the registry, with the state to act on.
                let atSix = try await control.send(.freeze(6))
                var rejection: BatchRejected?
                for seq: UInt64 in 100...110 where rejection == nil {
                    try await probe.push(Self.batch(atEight, freezePoint: 8, seq: seq, sample: 2000 + seq))
                    let deadline = ContinuousClock.now + .seconds(3)
                    while rejection == nil, ContinuousClock.now < deadline {
                        if case .freezeSyncReply(let reply) = try await probe.ask(Self.sync(atSix, [])) {
                            rejection = reply.rejections.first { $0.deviceSeq == seq }
                        }
                        try await Task.sleep(for: .milliseconds(200))
                    }
                }
                let returned = try #require(rejection, "no rejection came back through the registry")
                #expect(returned.reason == .staleFreezePoint)
                #expect(returned.currentState.freezePoint == 6 && returned.currentState.epoch == atSix.epoch)
                // Handed out once.
                if case .freezeSyncReply(let again) = try await probe.ask(Self.sync(atSix, [])) {
                    #expect(!again.rejections.contains { $0.deviceSeq == returned.deviceSeq })
                }
            }
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
