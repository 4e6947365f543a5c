import Foundation
import Logging
import Testing
import ThawFuzz
import ThawModel
import ThawNN
import ThawTestKit
import ThawWire
import ThawZMQ

@testable import ThawNodes

/// Hostile input at unit level: the registry's request path, the model contract every role checks
/// tensors against, the loaders' new bounds, and a bounded seeded run of every fuzzer.
@Suite struct HostileInputUnitTests {
    /// A tiny MLP: input [4] → dense 5 → relu → dense 3; at k = 2 the activation is [5], the head 18 scalars.
    static let architecture = ModelArchitecture(
        inputShape: [4], layers: [.dense(inputs: 4, outputs: 5), .relu, .dense(inputs: 5, outputs: 3)])
    static let metadata = WireMetadata(sender: "test", sequence: 9, sentAtUnixMs: 1)

    static func batch(shape: [Int], labels: [UInt32], freezePoint: UInt32 = 2, seq: UInt64 = 1) -> ThawMessage {
        .featureBatch(
            ThawWire.FeatureBatch(
                userID: "writer-1", deviceID: "phone-1", deviceSeq: seq, modelVersion: 1, modelHash: "m",
                freezePoint: freezePoint, hyperHash: "h", sampleIDs: (0..<UInt64(labels.count)).map { $0 },
                labels: labels, createdAtMs: 1,
                activations: WireTensor(shape: shape, scalars: [Float](repeating: 0.5, count: shape.reduce(1, *)))))
    }

    @Test func registryRefusesGarbageAndLiesCountsThemAndStillServes() throws {
        try withTemporaryStore { store in
            let parameters = [Float](repeating: 0.1, count: Self.architecture.parameterCount)
            let blob = ModelCheckpoint.encode(
                .init(architecture: Self.architecture, version: ModelVersion(1), parameters: parameters))
            _ = try store.putBaseModel(version: ModelVersion(1), hash: "m", blob: Data(blob))
            var machine = ModelRegistryStateMachine(
                index: try store.loadIndex(), contracts: try RegistryNode.loadContracts(store))
            let refusals = InputRefusals(logger: Logger(label: "test"))
            func answer(_ frames: [[UInt8]]) -> ThawMessage {
                RegistryNode.reply(to: frames, from: nil, machine: &machine, store: store, refusals: refusals)
                    ?? .errorReply(ErrorReply(code: .internal, message: "no reply"))
            }
            func encoded(_ message: ThawMessage) throws -> [[UInt8]] {
                try WireCodec.encode(message, metadata: Self.metadata)
            }
            func isRefusal(_ message: ThawMessage) -> Bool { if case .errorReply = message { true } else { false } }

            #expect(isRefusal(answer([[0xFF, 0x00, 0x13]])))
            #expect(isRefusal(answer([])))
            #expect(isRefusal(answer(try encoded(Self.batch(shape: [2, 7], labels: [0, 1])))))
            #expect(isRefusal(answer(try encoded(Self.batch(shape: [1, 5], labels: [3])))))
            #expect(isRefusal(answer(try encoded(Self.batch(shape: [1, 5], labels: [1], freezePoint: 9)))))
            let wrongHead = ThawMessage.headCommit(
                HeadCommit(
                    userID: "writer-1", parentVersion: 0, modelVersion: 1, freezePoint: 2, hyperHash: "h",
                    headHash: "x", consumed: [], metrics: TrainingMetrics(loss: 0, samples: 1, steps: 1),
                    headParameters: WireTensor(flat: [1, 2, 3])))
            #expect(isRefusal(answer(try encoded(wrongHead))))
            let unknownModel = ThawMessage.featureBatch(
                ThawWire.FeatureBatch(
                    userID: "writer-1", deviceID: "phone-1", deviceSeq: 5, modelVersion: 77, modelHash: "m",
                    freezePoint: 2, hyperHash: "h", sampleIDs: [1], labels: [1], createdAtMs: 1,
                    activations: WireTensor(shape: [1, 5], scalars: [0, 0, 0, 0, 0])))
            #expect(isRefusal(answer(try encoded(unknownModel))))
            #expect(isRefusal(answer(try encoded(.commitAck(CommitAck(userID: "u", version: 1, headHash: "h"))))))

            let counters = refusals.counters
            #expect(counters["refused"] == 8)
            #expect(counters["refused.router"] == 8)
            #expect(counters["refused.wrongShape"] == 2)
            #expect(counters["refused.labelOutOfRange"] == 1)
            #expect(counters["refused.freezePointOutOfRange"] == 1)
            #expect(counters["refused.unknownModel"] == 1)
            #expect(counters["refused.unexpectedKind"] == 1)
            #expect(counters["refused.router.emptyMessage"] == 1)

            // Still serving: a batch that fits the model is stored.
            guard case .featureStored(let stored) = answer(try encoded(Self.batch(shape: [2, 5], labels: [0, 2])))
            else {
                Issue.record("a valid batch was not stored after the garbage")
                return
            }
            #expect(stored.deviceSeq == 1 && !stored.duplicate)
            #expect(refusals.total == 8)
        }
    }

    @Test func modelContractChecksShapesLabelsFreezePointsAndHeads() throws {
        let contract = ModelContract(Self.architecture)
        try contract.checkBatch(shape: [3, 5], labels: [0, 1, 2], freezePoint: 2, what: "ok")
        try contract.checkHead(count: 18, freezePoint: 2, what: "ok")
        func reason(_ body: () throws -> Void) -> String? {
            do { try body() } catch let violation as InputViolation { return violation.reason.rawValue } catch {
                return "other"
            }
            return nil
        }
        #expect(
            reason { try contract.checkBatch(shape: [3, 4], labels: [0, 1, 2], freezePoint: 2, what: "") }
                == "wrongShape")
        #expect(
            reason { try contract.checkBatch(shape: [2, 5], labels: [0, 1, 2], freezePoint: 2, what: "") }
                == "wrongShape")
        #expect(
            reason { try contract.checkBatch(shape: [1, 5], labels: [3], freezePoint: 2, what: "") }
                == "labelOutOfRange")
        #expect(
            reason { try contract.checkBatch(shape: [1, 4], labels: [0], freezePoint: 0, what: "") }
                == "freezePointOutOfRange")
        #expect(reason { try contract.checkHead(count: 17, freezePoint: 2, what: "") } == "wrongShape")
        #expect(reason { try contract.checkHead(count: 18, freezePoint: 3, what: "") } == "freezePointOutOfRange")
    }

    @Test func refusalsAreCountedPerSocketAndReasonAndAlwaysReportATotal() {
        let refusals = InputRefusals(logger: Logger(label: "test"))
        #expect(refusals.counters == ["refused": 0])
        for _ in 0..<30 { refusals.refuse(on: "pull", WireError(.frameCountMismatch, "x")) }
        refusals.refuse(on: "sub", InputViolation(.wrongShape, "y"))
        #expect(refusals.total == 31)
        #expect(refusals.counters["refused.pull"] == 30)
        #expect(refusals.counters["refused.frameCountMismatch"] == 30)
        #expect(refusals.counters["refused.pull.frameCountMismatch"] == 30)
        #expect(refusals.counters["refused.sub.wrongShape"] == 1)
    }

    @Test func architecturesTooLargeToRunAreInvalidNotATrap() throws {
        let huge = ModelArchitecture(
            inputShape: [Int(UInt32.max)], layers: [.dense(inputs: Int(UInt32.max), outputs: Int(UInt32.max))])
        #expect(throws: ArchitectureError.self) { try huge.validate() }
        let wide = ModelArchitecture(
            inputShape: [1, 1 << 20, 1 << 20],
            layers: [.conv2D(inChannels: 1, outChannels: 1, kernel: 1, stride: 1, padding: 0)])
        #expect(throws: ArchitectureError.self) { try wide.validate() }
        let overflow = ModelArchitecture(
            inputShape: [65536, 65536, 65536, 65536, 65536], layers: [.flatten])
        #expect(throws: ArchitectureError.self) { try overflow.validate() }
        let bytes = ArchitectureEncoding.encode(huge)
        #expect(throws: ModelFileError.self) { try ArchitectureEncoding.decode(bytes) }
    }

    @Test func deviceCacheRefusesNonFiniteActivationsAndImpossibleLabels() throws {
        let stamp = ActivationStamp(modelVersion: ModelVersion(1), freezePoint: FreezePoint(2), hyperParameterHash: "h")
        func snapshot(value: Float, label: Int) -> DeviceSnapshot {
            DeviceSnapshot(
                nextSequence: 1, deployment: nil, annotatedLabels: [1: label],
                entries: [
                    CachedActivation(
                        sampleId: 1, label: label, annotated: true,
                        activation: Activation(shape: [2], scalars: [1, value]),
                        stamp: stamp, createdAt: Timestamp(milliseconds: 1))
                ])
        }
        #expect(throws: StateFileError.self) {
            try DeviceCacheStore.decode(DeviceCacheStore.encode(snapshot(value: .nan, label: 1)), path: "t")
        }
        #expect(throws: StateFileError.self) {
            try DeviceCacheStore.decode(DeviceCacheStore.encode(snapshot(value: .infinity, label: 1)), path: "t")
        }
        #expect(throws: StateFileError.self) {
            try DeviceCacheStore.decode(DeviceCacheStore.encode(snapshot(value: 1, label: -1)), path: "t")
        }
        let good = snapshot(value: 2, label: 3)
        #expect(try DeviceCacheStore.decode(DeviceCacheStore.encode(good), path: "t") == good)
    }

    /// A bounded, seeded run of each fuzzer (the long runs are `scripts/fuzz.sh`; see docs/RELIABILITY.md).
    @Test(arguments: FuzzTarget.allCases)
    func fuzzerFindsNoBrokenPropertyInABoundedSeededRun(target: FuzzTarget) throws {
        let report = try FuzzRun(target: target, seed: 20_261_202).run(runs: 3000)
        #expect(report.runs == 3000)
        #expect(report.accepted > 0, "no mutant was accepted: the mutator is too destructive")
        #expect(report.refused.count >= 3, "few refusal codes reached: \(report.refused)")
    }

    /// The committed corpus loads and every input in it meets the property.
    @Test(arguments: FuzzTarget.allCases)
    func committedCorpusReplaysCleanly(target: FuzzTarget) throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/fuzz/corpus").path
        let inputs = try FuzzCorpus.load(root, target: target)
        #expect(!inputs.isEmpty, "no corpus under \(root)/\(target.rawValue)")
        for input in inputs { _ = try target.run(input) }
    }
}

/// The DEALER side: replies that answer nothing are skipped and counted, and the real answer still wins.
@Suite struct RegistryClientRefusalTests {
    @Test func repliesThatDoNotAnswerTheRequestAreCountedAndSkipped() async throws {
        let endpoints = try TemporaryEndpoints()
        defer { endpoints.removeAll() }
        let endpoint = endpoints.next("reg")
        let context = try ZMQContext()
        defer { try? context.shutdown() }
        let refusals = InputRefusals(logger: Logger(label: "test"))
        let specs = [SocketSpec(kind: .router, bind: [endpoint]), SocketSpec(kind: .dealer, connect: [endpoint])]
        let answer = try await withSocketLoop(context: context, sockets: specs) { loop in
            let (router, dealer) = (loop.sockets[0], loop.sockets[1])
            let replies = DeliveryQueue()
            // A generous timeout: under a loaded parallel test run the pool can be busy for seconds.
            let client = RegistryClient(
                loop: loop, dealer: dealer, replies: replies, refusals: refusals, timeout: .seconds(120))
            return try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    var stamper = EnvelopeStamper(sender: "fake-registry")
                    for try await delivery in loop.inbound {
                        if delivery.socket == dealer {
                            await replies.push(delivery)
                            continue
                        }
                        // A hostile registry: garbage, another user's head, then the real answer.
                        let id = delivery.frames[0]
                        func head(_ user: String) -> ThawMessage {
                            .headReply(
                                HeadReply(
                                    status: .noHead, userID: user, headVersion: 0, parentVersion: 0, headHash: "",
                                    modelVersion: 1, freezePoint: 2, hyperHash: "", durableSeqs: [], headParameters: nil
                                ))
                        }
                        try await loop.send([id, Frame([0xde, 0xad])], on: router)
                        try await loop.send([id] + (try stamper.encode(head("someone-else"))), on: router)
                        try await loop.send([id] + (try stamper.encode(head("writer-1"))), on: router)
                    }
                }
                defer { group.cancelAll() }
                var stamper = EnvelopeStamper(sender: "worker")
                let request = HeadRequest(
                    userID: "writer-1", deviceID: "", haveHash: "", modelVersion: 1, freezePoint: 2)
                return try await client.request(.headRequest(request), stamper: &stamper) {
                    if case .headReply(let reply) = $0 { reply.userID == "writer-1" } else { false }
                }
            }
        }
        guard case .headReply(let reply) = answer else {
            Issue.record("got \(answer.kind)")
            return
        }
        #expect(reply.userID == "writer-1")
        #expect(refusals.counters["refused.dealer.headerUnparseable"] == 1)
        #expect(refusals.counters["refused.dealer.unsolicitedReply"] == 1)
        #expect(refusals.total == 2)
    }
}
