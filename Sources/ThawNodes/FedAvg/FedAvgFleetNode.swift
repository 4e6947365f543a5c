import Foundation
import Logging
import ThawData
import ThawDeviceProfile
import ThawLearning
import ThawModel
import ThawNN
import ThawWire
import ThawZMQ

/// A device process in FedAvg mode: simulates `users.count` phones that are FedAvg clients of a `thaw fedavg`
/// server, instead of caching activations for Thaw's workers.
///
/// Each phone owns one test writer. Its annotated samples are the adaptation half of the writer's samples
/// (the split the server's held-out set complements), each kept with probability `annotationShare`; the
/// phone runs the frozen backbone over them once per freeze point. It joins the server with that count and,
/// for every ``FedAvgModel`` addressed to it, runs ``FedAvgLocalUpdate`` (ThawLearning's minibatch loop) and
/// answers with a ``FedAvgUpdate``. The backbone and training FLOPs and the bytes of both messages are booked
/// in the phone's ``EnergyLedger`` through a ``DeviceMeter`` priced by the device profile, whose clock follows
/// the wall clock between rounds. On shutdown every phone prints a `fedavg-device-report` line.
public struct FedAvgFleetNode: Sendable {
    public struct Configuration: Sendable {
        /// CURVE on tcp endpoints (docs/SECURITY.md); nil: plain sockets.
        public var curve: NodeCurve? = nil
        public var name: String
        public var server: Endpoint
        public var users: [UInt16]
        public var annotationShare: Double
        public var profile: DeviceProfile
        public var seed: UInt64

        public init(
            name: String, server: Endpoint, users: [UInt16], annotationShare: Double, profile: DeviceProfile,
            seed: UInt64
        ) {
            self.name = name
            self.server = server
            self.users = users
            self.annotationShare = annotationShare
            self.profile = profile
            self.seed = seed
        }
    }

    /// One phone's final accounts, printed on shutdown.
    public struct ReportLine: Codable, Sendable {
        public var event = "fedavg-device-report"
        public var device: String
        public var user: String
        public var samples: Int
        public var updates: Int
        public var refused: Int
        public var ledger: [String: Double]
    }

    struct Phone {
        let id: FedAvgClientID
        let writer: UInt16
        let samples: [Int]
        var meter: DeviceMeter
        var inputs: (freezePoint: FreezePoint, activations: Tensor)?
        var updates = 0
        var refused = 0
    }

    public let configuration: Configuration
    public let baseModel: ModelCheckpoint.Contents
    public let dataset: HandwritingDataset
    public let logger: Logger

    public init(
        configuration: Configuration, baseModel: ModelCheckpoint.Contents, dataset: HandwritingDataset, logger: Logger
    ) {
        self.configuration = configuration
        self.baseModel = baseModel
        self.dataset = dataset
        self.logger = logger
    }

    public func run(shutdown: ShutdownSignal) async throws {
        let model = baseModel.makeModel()
        let test = dataset.test
        let splitter = UserSplitter(adaptationFraction: 0.5, seed: configuration.seed)
        var phones: [FedAvgClientID: Phone] = [:]
        var order: [FedAvgClientID] = []
        for (number, writer) in configuration.users.enumerated() {
            var generator = SeededGenerator.derived(seed: configuration.seed, stream: UInt64(writer))
            let adaptation = splitter.split(test, writer: writer).adaptation
            var annotated = adaptation.filter { _ in generator.nextUnitDouble() < configuration.annotationShare }
            // Every phone with data joins (the server waits for all of them): at least one annotated sample.
            if annotated.isEmpty, let first = adaptation.first { annotated = [first] }
            let id = "\(configuration.name)-\(number)"
            guard !annotated.isEmpty else {
                logger.warning("phone's user has no sample; it does not join", metadata: ["device": "\(id)"])
                continue
            }
            phones[id] = Phone(
                id: id, writer: writer, samples: annotated, meter: DeviceMeter(profile: configuration.profile))
            order.append(id)
        }
        let started = ContinuousClock.now
        func elapsed() -> Double { (ContinuousClock.now - started) / .seconds(1) }
        var stamper = EnvelopeStamper(sender: configuration.name)
        var malformed = 0

        let context = try ZMQContext()
        defer { try? context.shutdown() }
        let specs = [
            SocketSpec(
                kind: .dealer, connect: [configuration.server],
                options: [.maxMessageSize(64 << 20), .linger(.seconds(2))])
        ]
        try await withNodeSocketLoop(context: context, sockets: specs, curve: configuration.curve, logger: logger) { loop in
            let dealer = loop.sockets[0]
            ReadyLine(role: "device", node: configuration.name, endpoints: [:]).emit()
            for id in order {
                let join = ThawMessage.fedAvgJoin(FedAvgJoin(clientID: id, samples: UInt64(phones[id]!.samples.count)))
                try await loop.send(try stamper.encode(join), on: dealer)
            }
            logger.info("phones joined", metadata: ["phones": "\(order.count)", "server": "\(configuration.server)"])

            try await runNodeEvents(loop: loop, tickEvery: .seconds(1), shutdown: shutdown) { event in
                switch event {
                case .delivery(let delivery):
                    guard let decoded = try? WireCodec.decode(WireBridge.bytes(delivery.frames[...])),
                        case .fedAvgModel(let global) = decoded.message
                    else {
                        malformed += 1
                        logger.warning(
                            "malformed or unexpected message refused", metadata: ["malformed": "\(malformed)"])
                        return true
                    }
                    guard var phone = phones[global.clientID] else {
                        malformed += 1
                        logger.warning("model for an unknown phone refused", metadata: ["client": "\(global.clientID)"])
                        return true
                    }
                    let k = FreezePoint(Int(global.freezePoint))
                    let headSize =
                        k.index < model.layerCount
                        ? model.parameterRange(layers: k.index..<model.layerCount).count : -1
                    guard global.weights.scalars.count == headSize else {
                        phone.refused += 1
                        phones[phone.id] = phone
                        logger.warning(
                            "model refused: wrong size",
                            metadata: [
                                "client": "\(phone.id)", "weights": "\(global.weights.scalars.count)",
                                "expected": "\(headSize)",
                            ])
                        return true
                    }
                    phone.meter.wait(until: elapsed())
                    phone.meter.transfer(
                        bytesUp: 0, bytesDown: (try? ThawMessage.fedAvgModel(global).encodedByteCount) ?? 0)
                    if phone.inputs?.freezePoint != k {
                        let before = model.executedFLOPs
                        let activations = Batching.backboneActivations(
                            model, input: Batching.images(test, phone.samples), freezePoint: k)
                        phone.meter.compute(model.executedFLOPs - before)
                        phone.inputs = (k, activations)
                    }
                    let update = FedAvgLocalUpdate(
                        settings: FedAvgSettings(
                            localEpochs: Int(global.localEpochs), batchSize: Int(global.batchSize),
                            learningRate: global.learningRate, seed: configuration.seed))
                    let outcome = update.run(
                        model: model, freezePoint: k, globalWeights: global.weights.scalars,
                        inputs: phone.inputs!.activations, labels: test.intLabels(phone.samples),
                        clientSeed: UInt64(phone.writer), round: Int(clamping: global.round))
                    phone.meter.compute(outcome.flops)
                    let answer = ThawMessage.fedAvgUpdate(
                        FedAvgUpdate(
                            clientID: phone.id, round: global.round, samples: UInt64(outcome.samples),
                            loss: Double(outcome.loss), weights: WireTensor(flat: outcome.weights)))
                    let frames = try stamper.encode(answer)
                    phone.meter.transfer(bytesUp: frames.reduce(0) { $0 + $1.count }, bytesDown: 0)
                    phone.updates += 1
                    phones[phone.id] = phone
                    try await loop.send(frames, on: dealer)
                    logger.debug("update sent", metadata: ["client": "\(phone.id)", "round": "\(global.round)"])
                case .tick:
                    break
                case .shutdown:
                    for id in order {
                        var phone = phones[id]!
                        phone.meter.wait(until: elapsed())
                        phone.meter.finish()
                        StdoutLine.write(
                            ReportLine(
                                device: id, user: "writer-\(phone.writer)", samples: phone.samples.count,
                                updates: phone.updates, refused: phone.refused, ledger: phone.meter.ledger.metrics))
                    }
                }
                return true
            }
        }
    }
}
