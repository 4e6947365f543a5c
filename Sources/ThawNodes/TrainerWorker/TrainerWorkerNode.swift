import Logging
import ThawModel
import ThawNN
import ThawWire
import ThawZMQ

/// A worker process: PULLs feature batches, makes them durable in the registry, trains the user's
/// head on everything stored for that user, and commits it with compare-and-set.
///
/// It holds nothing that cannot be lost: a batch is stored in the registry before any training, and
/// training always starts from what the registry has. A worker killed mid-way loses only compute;
/// the device re-sends an unacknowledged batch and the registry drops the duplicate.
public struct TrainerWorkerNode: Sendable {
    public struct Configuration: Sendable {
        public var name: String
        public var pull: Endpoint
        public var registry: Endpoint
        public var coordinator: Endpoint
        public var metrics: Endpoint?
        public var recipe: TrainingRecipe
        public var maxSamplesPerUser: Int
        public var commitAttempts: Int
        /// CURVE on tcp endpoints (docs/SECURITY.md); nil: plain sockets.
        public var curve: NodeCurve? = nil

        public init(
            name: String, pull: Endpoint, registry: Endpoint, coordinator: Endpoint, metrics: Endpoint?,
            recipe: TrainingRecipe, maxSamplesPerUser: Int = 4096, commitAttempts: Int = 4
        ) {
            self.name = name
            self.pull = pull
            self.registry = registry
            self.coordinator = coordinator
            self.metrics = metrics
            self.recipe = recipe
            self.maxSamplesPerUser = maxSamplesPerUser
            self.commitAttempts = commitAttempts
        }
    }

    public let configuration: Configuration
    public let logger: Logger
    /// Batches read from the PULL socket but not yet handled, at most.
    static let inboundBatches = 4

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run(shutdown: ShutdownSignal) async throws {
        let context = try ZMQContext()
        defer { try? context.shutdown() }
        var specs = [
            // At most `inboundBatches` batches are read ahead of training; beyond that the loop stops
            // reading, the high-water marks fill, and devices stop being able to push (they keep the
            // batches in their outboxes and re-send later). Without the limit a slow worker would read
            // every batch into memory as fast as devices send.
            SocketSpec(
                kind: .pull, bind: [configuration.pull],
                options: [.receiveHighWaterMark(16), .maxMessageSize(SocketLimits.dataFrame)],
                inboundLimit: Self.inboundBatches),
            SocketSpec(
                kind: .dealer, connect: [configuration.registry], options: [.maxMessageSize(SocketLimits.dataFrame)]),
            SocketSpec(
                kind: .sub, connect: [configuration.coordinator],
                options: [
                    .subscribe(Topic.heartbeat.rawValue), .subscribe(Topic.model.rawValue),
                    .subscribe(Topic.freeze.rawValue), .maxMessageSize(SocketLimits.smallFrame),
                ]),
        ]
        if let metrics = configuration.metrics {
            specs.append(SocketSpec(kind: .pub, connect: [metrics], options: [.sendHighWaterMark(100)]))
        }
        let replies = DeliveryQueue()
        let access = NodeCurve.policy(configuration.curve, bound: configuration.pull)
        try await withNodeSocketLoop(context: context, sockets: specs, curve: configuration.curve, logger: logger) { loop in
            let (pull, dealer, sub) = (loop.sockets[0], loop.sockets[1], loop.sockets[2])
            let metricsSocket = loop.sockets.count > 3 ? loop.sockets[3] : nil
            ReadyLine(
                role: "worker", node: configuration.name,
                endpoints: ["pull": loop.boundEndpoints(of: pull).first?.rawValue ?? ""]
            ).emit()
            let refusals = InputRefusals(logger: logger)
            var session = TrainerWorkerSession(
                configuration: configuration, logger: logger, refusals: refusals,
                registry: RegistryClient(loop: loop, dealer: dealer, replies: replies, refusals: refusals))
            var lastMetrics = ContinuousClock.now
            try await runNodeEvents(
                loop: loop, tickEvery: .seconds(1), shutdown: shutdown, replySocket: dealer, replies: replies
            ) { event in
                switch event {
                case .delivery(let delivery) where delivery.socket == sub:
                    let decoded: DecodedMessage
                    do {
                        decoded = try WireCodec.decodePublished(delivery.frames.map(\.bytes))
                    } catch {
                        refusals.refuse(on: "sub", error)
                        return true
                    }
                    session.observe(decoded.message)
                case .delivery(let delivery) where delivery.socket == pull:
                    await session.handleBatch(delivery.frames.map(\.bytes), access: access, userID: delivery.userID)
                    loop.release(delivery)
                case .delivery, .shutdown:
                    break
                case .tick:
                    if let metricsSocket, ContinuousClock.now - lastMetrics >= .seconds(2) {
                        lastMetrics = ContinuousClock.now
                        let frames = try session.stamper.encodePublished(.metrics(session.metricsReport()))
                        _ = try? loop.trySend(frames, on: metricsSocket)
                    }
                }
                return true
            }
            logger.info(
                "worker stopping",
                metadata: ["batches": "\(session.counters.batches)", "refused": "\(session.refusals.total)"])
        }
    }
}
