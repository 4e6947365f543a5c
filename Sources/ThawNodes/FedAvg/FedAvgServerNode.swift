import Foundation
import Logging
import ThawData
import ThawLearning
import ThawModel
import ThawNN
import ThawWire
import ThawZMQ

/// `thaw fedavg`: drives ``FedAvgServerStateMachine`` over ZeroMQ.
///
/// Clients (simulated phones, many per device process) connect a DEALER to this node's ROUTER and join
/// with their sample counts. Once `minClients` joined, the node runs `settings.rounds` rounds: the machine
/// selects, the node sends each selected client the global weights (``FedAvgModel``) through the routing id
/// its join came from, feeds ``FedAvgUpdate``s and a periodic tick (the round deadline) back in, and after
/// each round prints a ``FedAvgProgressLine`` with the global model's held-out accuracy. It returns after the
/// last round. Bad input from a client is refused, counted and logged, never fatal.
public struct FedAvgServerNode: Sendable {
    public struct Configuration: Sendable {
        /// CURVE on tcp endpoints (docs/SECURITY.md); nil: plain sockets.
        public var curve: NodeCurve? = nil
        public var name: String
        public var router: Endpoint
        public var settings: FedAvgSettings
        public var freezePoint: FreezePoint
        /// Round 1 starts once this many clients joined.
        public var minClients: Int
        /// Seeds the users' adaptation/evaluation split (the same split the phones use).
        public var splitSeed: UInt64
        public var tick: Duration

        public init(
            name: String, router: Endpoint, settings: FedAvgSettings, freezePoint: FreezePoint, minClients: Int,
            splitSeed: UInt64, tick: Duration = .milliseconds(100)
        ) {
            self.name = name
            self.router = router
            self.settings = settings
            self.freezePoint = freezePoint
            self.minClients = minClients
            self.splitSeed = splitSeed
            self.tick = tick
        }
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
        let k = configuration.freezePoint
        let model = baseModel.makeModel()
        guard k.index < model.layerCount else {
            throw NodeError(
                .badConfiguration, "freeze point \(k.index) leaves no trainable layer (\(model.layerCount) layers)")
        }
        if let problem = configuration.settings.problem { throw NodeError(.badConfiguration, "fedavg: \(problem)") }
        let heldOut = HeldOutSet(model: model, freezePoint: k, samples: dataset.test, seed: configuration.splitSeed)
        var machine = FedAvgServerStateMachine(
            settings: configuration.settings, initialWeights: model.headParameters(from: k))
        var routes: [FedAvgClientID: Frame] = [:]
        var stamper = EnvelopeStamper(sender: configuration.name)
        var malformed = 0
        var started = false

        let context = try ZMQContext()
        defer { try? context.shutdown() }
        let specs = [
            SocketSpec(
                kind: .router, bind: [configuration.router], options: [.maxMessageSize(64 << 20), .linger(.seconds(2))])
        ]
        try await withNodeSocketLoop(context: context, sockets: specs, curve: configuration.curve, logger: logger) { loop in
            let router = loop.sockets[0]
            ReadyLine(
                role: "fedavg", node: configuration.name,
                endpoints: ["router": loop.boundEndpoints(of: router).first?.rawValue ?? ""]
            ).emit()
            StdoutLine.write(
                FedAvgProgressLine(
                    event: "fedavg-started", round: 0, clients: 0, summary: nil,
                    accuracy: heldOut.accuracy(model, weights: machine.globalWeights), refusals: 0, malformed: 0))

            /// Carries out the machine's actions; false once the last round finished.
            func perform(_ actions: [FedAvgAction]) async throws -> Bool {
                var pending = actions
                while !pending.isEmpty {
                    let action = pending.removeFirst()
                    switch action {
                    case .sendModel(let client, let round, let weights):
                        guard let route = routes[client] else { continue }
                        let message = ThawMessage.fedAvgModel(
                            FedAvgModel(
                                clientID: client, round: UInt64(round),
                                localEpochs: UInt32(configuration.settings.localEpochs),
                                batchSize: UInt32(configuration.settings.batchSize),
                                learningRate: configuration.settings.learningRate, freezePoint: UInt32(k.index),
                                weights: WireTensor(flat: weights)))
                        try await loop.send([route] + (try stamper.encode(message)), on: router)
                    case .roundFinished(let summary):
                        let accuracy = heldOut.accuracy(model, weights: machine.globalWeights)
                        StdoutLine.write(
                            FedAvgProgressLine(
                                event: "fedavg-round", round: summary.round, clients: machine.clients.count,
                                summary: summary, accuracy: accuracy,
                                refusals: machine.refusals.values.reduce(0, +), malformed: malformed))
                        logger.info(
                            "round finished",
                            metadata: [
                                "round": "\(summary.round)", "contributors": "\(summary.contributors.count)",
                                "missing": "\(summary.missing.count)", "accuracy": "\(accuracy)",
                            ])
                        if !machine.isFinished { pending += machine.startRound(now: WallClock.now()) }
                    case .finished(let rounds):
                        StdoutLine.write(
                            FedAvgProgressLine(
                                event: "fedavg-finished", round: rounds, clients: machine.clients.count,
                                summary: machine.history.last,
                                accuracy: heldOut.accuracy(model, weights: machine.globalWeights),
                                refusals: machine.refusals.values.reduce(0, +), malformed: malformed))
                        return false
                    }
                }
                return true
            }

            try await runNodeEvents(loop: loop, tickEvery: configuration.tick, shutdown: shutdown) { event in
                switch event {
                case .delivery(let delivery):
                    guard delivery.frames.count > 1,
                        let decoded = try? WireCodec.decode(WireBridge.bytes(delivery.frames.dropFirst()))
                    else {
                        malformed += 1
                        logger.warning("malformed message refused", metadata: ["malformed": "\(malformed)"])
                        return true
                    }
                    switch decoded.message {
                    case .fedAvgJoin(let join):
                        routes[join.clientID] = delivery.frames[0]
                        machine.clientJoined(join.clientID, samples: Int(clamping: join.samples))
                        logger.debug(
                            "client joined", metadata: ["client": "\(join.clientID)", "samples": "\(join.samples)"])
                        if !started, machine.clients.count >= configuration.minClients {
                            started = true
                            logger.info("starting rounds", metadata: ["clients": "\(machine.clients.count)"])
                            return try await perform(machine.startRound(now: WallClock.now()))
                        }
                    case .fedAvgUpdate(let update):
                        let result = machine.updateReceived(
                            from: update.clientID, round: Int(clamping: update.round), weights: update.weights.scalars,
                            samples: Int(clamping: update.samples), now: WallClock.now())
                        switch result {
                        case .success(let actions): return try await perform(actions)
                        case .failure(let refusal):
                            logger.warning(
                                "update refused",
                                metadata: [
                                    "reason": "\(refusal.reason.rawValue)", "client": "\(refusal.client)",
                                    "round": "\(refusal.round)",
                                ])
                        }
                    default:
                        malformed += 1
                        logger.warning(
                            "unexpected message refused", metadata: ["kind": "\(decoded.message.kind.rawValue)"])
                    }
                case .tick:
                    return try await perform(machine.tick(now: WallClock.now()))
                case .shutdown:
                    logger.info("stopping before the last round", metadata: ["round": "\(machine.round)"])
                }
                return true
            }
        }
    }
}

/// The held-out half of every test user's samples, as activations at the freeze point (computed once), on
/// which the server measures the global model.
struct HeldOutSet {
    let freezePoint: FreezePoint
    let inputs: Tensor
    let labels: [Int]

    init(model: Model, freezePoint: FreezePoint, samples: HandwritingSamples, seed: UInt64) {
        let indices = UserSplitter(adaptationFraction: 0.5, seed: seed).splitAll(samples).flatMap(\.evaluation)
        self.freezePoint = freezePoint
        self.inputs = Batching.backboneActivations(
            model, input: Batching.images(samples, indices), freezePoint: freezePoint)
        self.labels = samples.intLabels(indices)
    }

    /// Accuracy of `model` with its trainable part set to `weights`.
    func accuracy(_ model: Model, weights: [Float]) -> Double {
        model.setHeadParameters(weights, from: freezePoint)
        return model.evaluate(inputs, labels: labels, from: freezePoint).accuracy
    }
}
