import Foundation
import SwiftProtobuf
import Testing
import ThawModel
import ThawNN
import ThawTestKit
import ThawZMQ

@testable import ThawNodes
@testable import ThawWire

/// A hostile peer, written with ThawZMQ, feeds every kind of garbage to a running registry, worker,
/// coordinator and monitor (real `thaw` processes on ipc://); each process must refuse it, count it in
/// its metrics, and still serve a well-formed request correctly afterwards.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct HostileInputTests {
    typealias Workspace = DistributedSystemTests.Workspace

    // MARK: - Garbage

    static let metadata = WireMetadata(sender: "hostile", sequence: 1, sentAtUnixMs: 1)

    /// A valid feature batch for the deployment: `[n] + activation shape at k`, labels < 10.
    static func batch(_ state: DeploymentState, device: String, seq: UInt64, shape: [Int], labels: [UInt32])
        -> ThawMessage
    {
        let count = shape.reduce(1, *)
        return .featureBatch(
            FeatureBatch(
                userID: "writer-hostile", deviceID: device, deviceSeq: seq, modelVersion: state.modelVersion.number,
                modelHash: state.modelHash, freezePoint: UInt32(state.freezePoint.index),
                hyperHash: state.hyperParameterHash, sampleIDs: (0..<UInt64(labels.count)).map { $0 + 1 },
                labels: labels, createdAtMs: 1,
                activations: WireTensor(shape: shape, scalars: (0..<count).map { Float($0 % 5) * 0.1 })))
    }

    /// Re-encodes `frames` after editing the header.
    static func editing(_ frames: [[UInt8]], _ edit: (inout Thaw_V1_Envelope) -> Void) throws -> [[UInt8]] {
        var envelope = try Thaw_V1_Envelope(serializedBytes: frames[0])
        edit(&envelope)
        var edited = frames
        edited[0] = try envelope.serializedBytes()
        return edited
    }

    /// Every kind of garbage, built from a valid batch `valid` (2 frames: header and activations), with
    /// the reason the receiver must count it under.
    static func garbage(valid: [[UInt8]]) throws -> [(name: String, frames: [[UInt8]])] {
        var unknownKind: [UInt8] = try {
            var envelope = Thaw_V1_Envelope()
            envelope.protocolVersion = 1
            return try envelope.serializedBytes()
        }()
        unknownKind += [0x9a, 0x06, 0x01, 0x08]  // field 99: a payload kind this build does not know
        var nan = valid
        nan[1].replaceSubrange(0..<4, with: [0x00, 0x00, 0xC0, 0x7F])
        var inf = valid
        inf[1].replaceSubrange(4..<8, with: [0x00, 0x00, 0x80, 0x7F])
        return [
            ("empty frame", [[]]),
            ("truncated header", [Array(valid[0].prefix(valid[0].count / 2)), valid[1]]),
            ("truncated tensor frame", [valid[0], Array(valid[1].dropLast(4))]),
            ("missing tensor frame", [valid[0]]),
            ("extra frame", valid + [[1, 2, 3, 4]]),
            ("random bytes", [(0..<97).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }]),
            ("header over 4 MiB", [[UInt8](repeating: 0x0A, count: (4 << 20) + 16)]),
            ("unknown protocol version", try editing(valid) { $0.protocolVersion = 2 }),
            ("unknown message kind", [unknownKind]),
            ("shape lies about byte length", try editing(valid) { $0.tensors[0].shape[0] += 1 }),
            ("byte length lies about frame", try editing(valid) { $0.tensors[0].byteLength += 4 }),
            (
                "shape claims 2^40 elements",
                try editing(valid) {
                    $0.tensors[0].shape = [1 << 40]
                    $0.tensors[0].byteLength = 4 << 40
                }
            ),
            ("shape product overflows", try editing(valid) { $0.tensors[0].shape = [1 << 31, 1 << 31, 1 << 31] }),
            ("NaN in activations", nan),
            ("infinity in activations", inf),
        ]
    }

    // MARK: - The test

    @Test func everyRoleRefusesGarbageCountsItAndKeepsServing() async throws {
        let workspace = try Workspace()
        let topology = try workspace.topology(workers: 1, phones: 1)
        let base = [
            "--topology", topology, "--base-model", "\(workspace.path)/base-model.thaw", "--state-dir",
            "\(workspace.path)/state",
        ]
        var nodes: [NodeProcess] = []
        do {
            for (role, name, extra) in [
                ("monitor", "monitor", ["--json"]), ("registry", "registry", []), ("coordinator", "coordinator", []),
                ("worker", "worker", []),
            ] {
                let node = try await NodeProcess(
                    name: name, arguments: [role, "--node", name] + base + extra, hardTimeout: .seconds(300))
                nodes.append(node)
                _ = try await node.waitForReady(timeout: .seconds(60))
            }
            try await Self.attack(workspace, monitor: nodes[0], nodes: nodes)
        } catch {
            for node in nodes.reversed() {
                node.printOutput()
                _ = try? await node.terminate(grace: .seconds(2))
            }
            throw error
        }
        for node in nodes.reversed() {
            #expect(try await node.terminate(grace: .seconds(10)) == .exited(0), "\(node.name) did not stop cleanly")
        }
    }

    /// The subscribers: a hostile publisher takes the coordinator's place (it binds the publish
    /// endpoint the worker and the device process connect to) and broadcasts garbage, then a
    /// well-formed heartbeat whose freeze point does not split the model. Both processes refuse and
    /// count it under `sub`, the device also refuses the lying heartbeat, and both stay up.
    @Test func subscribersRefuseAHostilePublisherAndStayUp() async throws {
        let workspace = try Workspace()
        let topology = try workspace.topology(workers: 1, phones: 1)
        let base = ["--topology", topology, "--base-model", "\(workspace.path)/base-model.thaw", "--state-dir",
                    "\(workspace.path)/state"]
        let context = try ZMQContext()
        defer { try? context.shutdown() }
        let specs = [SocketSpec(kind: .pub, bind: [Endpoint("ipc://\(workspace.path)/pub")])]
        var nodes: [NodeProcess] = []
        do {
            try await withSocketLoop(context: context, sockets: specs) { loop in
                for (role, name, extra) in [
                    ("monitor", "monitor", ["--json"]), ("registry", "registry", []), ("worker", "worker", []),
                    ("device", "phones", []),
                ] {
                    let node = try await NodeProcess(
                        name: name, arguments: [role, "--node", name] + base + extra, hardTimeout: .seconds(300))
                    nodes.append(node)
                    _ = try await node.waitForReady(timeout: .seconds(60))
                }
                let pub = loop.sockets[0]
                let valid = try WireCodec.encodePublished(
                    .heartbeat(
                        Heartbeat(
                            state: WireDeploymentState(
                                modelVersion: 1, modelHash: "hostile", freezePoint: 2, hyperHash: "h", epoch: 1),
                            coordinatorStartedAtMs: 1, counter: 1)), metadata: Self.metadata)
                let lying = try WireCodec.encodePublished(
                    .heartbeat(
                        Heartbeat(
                            state: WireDeploymentState(
                                modelVersion: 1, modelHash: "hostile", freezePoint: 99, hyperHash: "h", epoch: 2),
                            coordinatorStartedAtMs: 1, counter: 2)), metadata: Self.metadata)
                let body = Array(valid.dropFirst())
                let garbage: [[[UInt8]]] = [
                    [valid[0]],  // a topic and nothing else
                    [Array("heartbeat".utf8)] + [Array(body[0].prefix(body[0].count / 2))],  // truncated header
                    [Array("heartbeat".utf8), [0xFF, 0xFF, 0xFF]],  // unparseable header
                    [Array("freeze".utf8)] + body,  // a heartbeat under the freeze topic
                    try Self.editing(body) { $0.protocolVersion = 9 }.prefixed(by: valid[0]),
                ]
                // Repeated until both subscribers report refusals (PUB/SUB slow joiner; metrics every 2 s).
                let refusedByBoth = try await Self.waitUntil(.seconds(60)) {
                    for frames in garbage + [lying] { _ = try? loop.trySend(frames.map(Frame.init), on: pub) }
                    return (Self.refused(by: "worker", in: nodes[0]) ?? 0) >= UInt64(garbage.count)
                        && (Self.refused(by: "phones", in: nodes[0]) ?? 0) > UInt64(garbage.count)
                }
                let counts = (Self.refused(by: "worker", in: nodes[0]) ?? 0, Self.refused(by: "phones", in: nodes[0]) ?? 0)
                #expect(refusedByBoth, "worker refused \(counts.0), phones \(counts.1)")
                let deviceLog = nodes[3].output.joined(separator: "\n")
                #expect(deviceLog.contains("reason=freezePointOutOfRange"), "the device followed a freeze point of 99")
                for node in nodes { #expect(node.exitStatus == nil, "\(node.name) died") }
            }
        } catch {
            for node in nodes.reversed() {
                node.printOutput()
                _ = try? await node.terminate(grace: .seconds(2))
            }
            throw error
        }
        for node in nodes.reversed() {
            #expect(try await node.terminate(grace: .seconds(10)) == .exited(0), "\(node.name) did not stop cleanly")
        }
    }

    static func attack(_ workspace: Workspace, monitor: NodeProcess, nodes: [NodeProcess]) async throws {
        let control = ControlClient(endpoint: Endpoint("ipc://\(workspace.path)/ctl"))
        let state = try await control.send(.status)
        let architecture = try ModelCheckpoint.load(from: "\(workspace.path)/base-model.thaw").architecture
        let row = architecture.activationShape(at: state.freezePoint.index)
        let good = batch(state, device: "hostile-phone", seq: 1, shape: [2] + row, labels: [3, 4])
        let validFrames = try WireCodec.encode(good, metadata: metadata)
        let garbage = try Self.garbage(valid: validFrames)
        // Well-formed on the wire, but wrong for the model or for the socket.
        let wrongShape = try WireCodec.encode(
            batch(state, device: "hostile-phone", seq: 2, shape: [2, 7], labels: [3, 4]), metadata: metadata)
        let badLabel = try WireCodec.encode(
            batch(state, device: "hostile-phone", seq: 3, shape: [1] + row, labels: [200]), metadata: metadata)
        let wrongKind = try WireCodec.encode(
            .heartbeat(
                Heartbeat(
                    state: WireDeploymentState(
                        modelVersion: 1, modelHash: "x", freezePoint: 1, hyperHash: "x", epoch: 1),
                    coordinatorStartedAtMs: 0, counter: 0)), metadata: metadata)
        let semantic = [wrongShape, badLabel, wrongKind]

        let context = try ZMQContext()
        defer { try? context.shutdown() }
        let specs = [
            SocketSpec(kind: .dealer, connect: [Endpoint("ipc://\(workspace.path)/reg")]),
            SocketSpec(kind: .push, connect: [Endpoint("ipc://\(workspace.path)/pull")]),
            SocketSpec(kind: .dealer, connect: [Endpoint("ipc://\(workspace.path)/ctl")]),
            SocketSpec(kind: .pub, connect: [Endpoint("ipc://\(workspace.path)/metrics")]),
        ]
        let registryReplies = DeliveryQueue(capacity: 256)
        let controlReplies = DeliveryQueue(capacity: 256)
        try await withSocketLoop(context: context, sockets: specs) { loop in
            let (registry, worker, coordinator, metrics) = (
                loop.sockets[0], loop.sockets[1], loop.sockets[2], loop.sockets[3]
            )
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await delivery in loop.inbound {
                        await (delivery.socket == registry ? registryReplies : controlReplies).push(delivery)
                    }
                }
                defer { group.cancelAll() }
                func ask(_ frames: [[UInt8]], _ socket: SocketID, _ queue: DeliveryQueue) async throws -> ThawMessage {
                    try await loop.send(frames.map(Frame.init), on: socket)
                    let delivery = try #require(await queue.next(timeout: .seconds(20)), "no reply")
                    return try WireCodec.decode(delivery.frames.map(\.bytes)).message
                }
                func isRefusal(_ message: ThawMessage) -> Bool {
                    if case .errorReply = message { true } else { false }
                }

                // 1. The registry's ROUTER answers every piece of garbage with an ErrorReply.
                for (name, frames) in garbage {
                    #expect(isRefusal(try await ask(frames, registry, registryReplies)), "registry: \(name)")
                }
                for frames in semantic {
                    #expect(isRefusal(try await ask(frames, registry, registryReplies)), "registry: semantic")
                }
                let registryRefusals = garbage.count + semantic.count

                // 2. The coordinator's control ROUTER too (a heartbeat is its status request, not garbage;
                // the 4 MiB header exceeds its 1 MiB ZMQ_MAXMSGSIZE: libzmq drops the connection, no reply).
                let small = garbage.filter { $0.name != "header over 4 MiB" }
                for (name, frames) in small {
                    #expect(isRefusal(try await ask(frames, coordinator, controlReplies)), "coordinator: \(name)")
                }
                for frames in [wrongShape, badLabel] {
                    #expect(isRefusal(try await ask(frames, coordinator, controlReplies)), "coordinator: batch")
                }
                let coordinatorRefusals = small.count + 2
                try await loop.send(
                    garbage.first { $0.name == "header over 4 MiB" }!.frames.map(Frame.init), on: coordinator)

                // 3. The worker's PULL: garbage, then (below) batches that are well-formed but wrong for the
                // model, and one good batch, which must become durable.
                for (_, frames) in garbage { try await loop.send(frames.map(Frame.init), on: worker) }
                try await loop.send(wrongKind.map(Frame.init), on: worker)
                let workerRefusals = garbage.count + semantic.count

                // 4. The monitor's metrics SUB: garbage from a publisher, repeated until the subscription
                // has reached it (PUB/SUB slow joiner) and the monitor reports its own refusals.
                let monitorSaw = try await Self.waitUntil(.seconds(30)) {
                    for (_, frames) in garbage.prefix(6) { _ = try? loop.trySend(frames.map(Frame.init), on: metrics) }
                    return (Self.refused(by: "monitor", in: monitor) ?? 0) > 0
                }
                #expect(monitorSaw, "the monitor never reported refusing the hostile publisher's garbage")

                // Still serving: the registry stores the worker's good batch and answers a base-model request.
                let request = HeadRequest(
                    userID: "writer-hostile", deviceID: "hostile-phone", haveHash: "",
                    modelVersion: state.modelVersion.number, freezePoint: UInt32(state.freezePoint.index))
                var durable: [UInt64] = []
                let stored = try await Self.waitUntil(.seconds(60)) {
                    // Re-sent like a device does until durable: a worker that has not yet heard a heartbeat
                    // leaves batches for the device to re-send (the model checks need the deployment).
                    for frames in [wrongShape, badLabel, validFrames] {
                        try await loop.send(frames.map(Frame.init), on: worker)
                    }
                    try await Task.sleep(for: .milliseconds(500))
                    let answer = try await ask(
                        try WireCodec.encode(.headRequest(request), metadata: metadata), registry, registryReplies)
                    if case .headReply(let head) = answer { durable = head.durableSeqs }
                    return durable.contains(1)
                }
                #expect(stored, "the worker never stored the good batch after the garbage (durable: \(durable))")
                if !stored { nodes[3].printOutput() }
                let model = try await ask(
                    try WireCodec.encode(.baseModelRequest(BaseModelRequest(modelVersion: 1)), metadata: metadata),
                    registry, registryReplies)
                guard case .baseModelReply(let reply) = model, let bytes = reply.checkpoint else {
                    Issue.record("registry answered \(model.kind) to a base-model request")
                    return
                }
                #expect(reply.status == .ok)
                #expect(try ModelCheckpoint.decode(bytes).architecture == architecture)
                // Still serving: the coordinator answers a status request with the same state.
                #expect(try await control.send(.status).freezePoint == state.freezePoint)

                // Counted: each role's metrics, as the monitor shows them, report the refusals.
                for (node, expected) in [
                    ("registry", registryRefusals), ("coordinator", coordinatorRefusals), ("worker", workerRefusals),
                ] {
                    let counted = try await Self.waitUntil(.seconds(20)) {
                        (Self.refused(by: node, in: monitor) ?? 0) >= UInt64(expected)
                    }
                    #expect(
                        counted,
                        "\(node) reported \(Self.refused(by: node, in: monitor) ?? 0) refusals, expected \(expected)")
                }
                for node in nodes { #expect(node.exitStatus == nil, "\(node.name) died") }
            }
        }
    }

    /// The latest `refused` counter `node` published, read from the monitor's JSON lines.
    static func refused(by node: String, in monitor: NodeProcess) -> UInt64? {
        for line in monitor.output.reversed() where line.contains("\"node\":\"\(node)\"") {
            guard let start = line.firstIndex(of: "{"),
                let object = try? JSONSerialization.jsonObject(with: Data(line[start...].utf8)) as? [String: Any],
                let counters = object["counters"] as? [String: Any]
            else { continue }
            return (counters["refused"] as? NSNumber)?.uint64Value
        }
        return nil
    }

    static func waitUntil(_ timeout: Duration, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(250))
        }
        return try await condition()
    }
}

extension Array where Element == [UInt8] {
    /// `self` with `frame` in front (a topic frame before an edited message).
    func prefixed(by frame: [UInt8]) -> [[UInt8]] { [frame] + self }
}
