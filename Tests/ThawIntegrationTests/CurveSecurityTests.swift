import Foundation
import Testing
import ThawLauncher
import ThawNodes
import ThawTestKit
import ThawTopology
import ThawWire
import ThawZMQ

/// CURVE on real `thaw` processes over tcp on free loopback ports: an unlisted device key is refused
/// at the handshake, and a listed device key cannot act for another user or commit a head.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct CurveSecurityTests {
    /// `count` loopback tcp ports that were free a moment ago (bound to port 0, read back, closed).
    static func freePorts(_ count: Int) throws -> [Int] {
        var sockets: [Int32] = []
        defer { for fd in sockets { close(fd) } }
        var ports: [Int] = []
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw TestKitError("socket() failed") }
            sockets.append(fd)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                    bind(fd, socketAddress, length) == 0 && getsockname(fd, socketAddress, &length) == 0
                }
            }
            guard bound else { throw TestKitError("bind(127.0.0.1:0) failed") }
            ports.append(Int(UInt16(bigEndian: address.sin_port)))
        }
        return ports
    }

    /// The integration topology on tcp with CURVE (the default), keys under the workspace.
    static func topology(_ workspace: DistributedSystemTests.Workspace) throws -> String {
        let ports = try freePorts(4)
        let text = """
            name: curve
            seed: 42
            model:
              cache: \(workspace.path)/base-model.thaw
            goal:
              heads-per-device: 1
            security:
              keys: \(workspace.path)/keys
            nodes:
              - name: coordinator
                role: coordinator
                endpoints:
                  publish: tcp://127.0.0.1:\(ports[0])
                  control: tcp://127.0.0.1:\(ports[1])
                options:
                  freeze-point: 7
                  heartbeat-interval: 500ms
              - name: registry
                role: registry
                endpoints:
                  router: tcp://127.0.0.1:\(ports[2])
                options:
                  database: \(workspace.path)/registry.sqlite
              - name: worker
                role: worker
                endpoints:
                  pull: tcp://127.0.0.1:\(ports[3])
                options:
                  epochs: 2
              - name: phones
                role: device
                count: 2
                options:
                  annotation-share: 0.5
                  flush:
                    samples: 8
                    interval: 2s
              - name: strangers
                role: device
                count: 1

            """
        let file = "\(workspace.path)/topology.yaml"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    static func lines(_ node: NodeProcess, containing text: String) -> [String] {
        node.output.filter { $0.contains(text) }
    }

    @Test func unlistedKeysAreRefusedAndListedKeysActOnlyForTheirOwnUsers() async throws {
        let workspace = try DistributedSystemTests.Workspace()
        let file = try Self.topology(workspace)
        let topology = try Topology.load(path: file)
        let keys = "\(workspace.path)/keys"

        // `thaw keys topology` makes every node's key pair and the allowlist; then `strangers` is
        // taken off the allowlist: a device whose key the cloud does not know.
        let maker = try await NodeProcess(name: "keys", arguments: ["keys", "topology", file], hardTimeout: .seconds(60))
        #expect(try await maker.waitForExit(timeout: .seconds(50)) == .exited(0))
        let allowlist = try Allowlist.load(path: "\(keys)/allowlist")
        let phones = Principal(kind: .device, name: "phones")
        let ownUsers = allowlist.users(of: phones).sorted()
        #expect(ownUsers.count == 2)
        let strangerKey = try KeyFile.readPublicKey(path: KeyFile.publicPath(keys, "strangers"))
        let trimmed = try Allowlist(entries: allowlist.entries.filter { $0.principal.name != "strangers" })
        try trimmed.render().write(toFile: "\(keys)/allowlist", atomically: true, encoding: .utf8)

        let nodes = try await DistributedSystemTests.startNodes(
            workspace, topology: file, names: ["registry", "coordinator", "worker", "phones"])
        let (registry, coordinator, worker, device) = (nodes[0], nodes[1], nodes[2], nodes[3])
        var stranger: NodeProcess?
        do {
            // A listed device works end to end over CURVE: base model, batches, a personal head.
            #expect(
                try await DistributedSystemTests.waitUntil(.seconds(150)) {
                    !Self.lines(device, containing: "\"head-swapped\"").isEmpty
                }, "the listed device never swapped in a head over CURVE")

            // An unlisted device key is refused at the handshake by every cloud node it tries.
            let intruder = try await NodeProcess(
                name: "strangers",
                arguments: [
                    "device", "--topology", file, "--node", "strangers", "--base-model",
                    "\(workspace.path)/base-model.thaw", "--state-dir", "\(workspace.path)/state",
                ], hardTimeout: .seconds(120))
            stranger = intruder
            _ = try await intruder.waitForReady(timeout: .seconds(60))
            #expect(
                try await DistributedSystemTests.waitUntil(.seconds(20)) {
                    Self.lines(registry, containing: "refused a CURVE client").contains { $0.contains(strangerKey) }
                        && Self.lines(coordinator, containing: "refused a CURVE client").contains { $0.contains(strangerKey) }
                }, "the registry and coordinator did not log the refused key")
            try await Task.sleep(for: .seconds(2))
            #expect(Self.lines(intruder, containing: "base model loaded").isEmpty)

            // The listed device's key, used by hand: only its own users, only its own device ids.
            try await Self.impersonate(topology: topology, keys: keys, ownUser: ownUsers[0], registry: registry, worker: worker)
        } catch {
            for node in nodes.reversed() + (stranger.map { [$0] } ?? []) {
                node.printOutput()
                _ = try? await node.terminate(grace: .seconds(2))
            }
            throw error
        }
        if let stranger { _ = try await stranger.terminate(grace: .seconds(10)) }
        for node in nodes.reversed() {
            #expect(try await node.terminate(grace: .seconds(10)) == .exited(0))
        }
    }

    /// Talks to the registry and the worker with the `phones` key, claiming other identities.
    static func impersonate(
        topology: Topology, keys: String, ownUser: String, registry: NodeProcess, worker: NodeProcess
    ) async throws {
        let curve = try #require(try topology.curve(keyName: "phones", binds: false, keysDirectory: keys))
        let router = Endpoint(topology.instances(of: .registry)[0].endpoints["router"]!.description)
        let pull = Endpoint(topology.instances(of: .worker)[0].endpoints["pull"]!.description)
        let specs = try curve.secure([
            SocketSpec(kind: .dealer, connect: [router]),
            SocketSpec(kind: .push, connect: [pull], options: [.linger(.seconds(2))]),
        ])
        func frames(_ message: ThawMessage, sequence: UInt64) throws -> [Frame] {
            let metadata = WireMetadata(sender: "impostor", sequence: sequence, sentAtUnixMs: 0)
            return try WireCodec.encode(message, metadata: metadata).map(Frame.init)
        }
        func head(user: String, device: String) -> ThawMessage {
            .headRequest(HeadRequest(userID: user, deviceID: device, haveHash: "", modelVersion: 1, freezePoint: 7))
        }
        let commit = ThawMessage.headCommit(
            HeadCommit(
                userID: ownUser, parentVersion: 0, modelVersion: 1, freezePoint: 7, hyperHash: "h", headHash: "x",
                consumed: [], metrics: TrainingMetrics(loss: 0, samples: 1, steps: 1),
                headParameters: WireTensor(shape: [1], scalars: [0])))
        let requests: [(message: ThawMessage, allowed: Bool)] = [
            (head(user: ownUser, device: "phones-0"), true),  // its own user and phone: answered
            (head(user: "writer-999", device: "phones-0"), false),  // another user's head
            (head(user: ownUser, device: "strangers-0"), false),  // another process's phone
            (commit, false),  // a device may not commit heads at all
        ]
        let encoded = try requests.enumerated().map { index, request in
            (frames: try frames(request.message, sequence: UInt64(index + 1)), allowed: request.allowed,
             kind: "\(request.message.kind)")
        }
        let batch = ThawWire.FeatureBatch(
            userID: "writer-999", deviceID: "phones-0", deviceSeq: 1_000_000, modelVersion: 1, modelHash: "m",
            freezePoint: 7, hyperHash: "h", sampleIDs: [1], labels: [1], createdAtMs: 0,
            activations: WireTensor(shape: [1, 1], scalars: [0]))
        let batchFrames = try frames(.featureBatch(batch), sequence: 99)
        let context = try ZMQContext()
        defer { try? context.shutdown() }
        try await withSocketLoop(context: context, sockets: specs) { loop in
            try await withDeadline(.seconds(60), "registry replies") {
                var inbound = loop.inbound.makeAsyncIterator()
                for request in encoded {
                    try await loop.send(request.frames, on: loop.sockets[0])
                    let reply = try #require(try await inbound.next(), "no reply to \(request.kind)")
                    let decoded = try WireCodec.decode(reply.frames.map(\.bytes)).message
                    if request.allowed {
                        if case .errorReply(let refusal) = decoded { Issue.record("own head pull refused: \(refusal.message)") }
                    } else if case .errorReply(let refusal) = decoded {
                        #expect(refusal.code == .forbidden, "\(refusal.message)")
                    } else {
                        Issue.record("\(request.kind) was answered with \(decoded.kind)")
                    }
                }
            }
            // Feeding another user's head through the worker: the batch is refused there.
            try await loop.send(batchFrames, on: loop.sockets[1])
            #expect(
                try await DistributedSystemTests.waitUntil(.seconds(20)) {
                    !lines(worker, containing: "reason=forbidden").isEmpty
                }, "the worker did not refuse the forged batch")
        }
        // Counted and logged: three refusals at the registry, one at the worker.
        let refusals = lines(registry, containing: "reason=forbidden")
        #expect(refusals.count == 3)
        #expect(refusals.last?.contains("refused.count=3") == true, "\(refusals.last ?? "")")
        #expect(lines(worker, containing: "reason=forbidden").count == 1)
    }
}
