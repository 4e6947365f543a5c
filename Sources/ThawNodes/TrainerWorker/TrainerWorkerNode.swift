import CoreMetrics
import Logging
import Synchronization
import ThawModel
import ThawNN
import ThawWire
import ThawZMQ

/// A worker process: PULLs feature batches, makes them durable in the registry, trains the user's
/// head and commits it with compare-and-set. It decides nothing itself: ``TrainerWorkerStateMachine``
/// does, and this node carries out its actions — requests on the registry DEALER (each with its own id,
/// many in flight), BLAS work on a ``TrainingThread``, deliveries released when the machine says so.
///
/// It holds nothing that cannot be lost: a batch is stored in the registry before any training, and
/// a batch counts as done only once a committed head names it. A worker killed mid-way loses only
/// compute; the device re-sends an unacknowledged batch and the registry drops the duplicate.
public struct TrainerWorkerNode: Sendable {
    public struct Configuration: Sendable {
        public var name: String
        public var pull: Endpoint
        public var registry: Endpoint
        public var coordinator: Endpoint
        public var metrics: Endpoint?
        public var recipe: TrainingRecipe
        /// Rows fetched for a full retrain (after a freeze move).
        public var maxSamplesPerUser: Int
        public var commitAttempts: Int
        /// Older rows replayed with each round's new rows (see docs/LEARNING.md, incremental training).
        public var replaySamples: Int = Self.defaultReplaySamples
        /// Replayed rows per new row in a round (the budget is the smaller of the two).
        public var replayFraction: Double = Self.defaultReplayFraction
        public static let defaultReplaySamples = 256
        public static let defaultReplayFraction = 0.5
        /// Older rows kept per user to replay from.
        public var historyRows: Int = 1024
        /// A registry request without a reply after this long is given up (its batches re-sent by devices).
        public var requestTimeout: Duration = .seconds(10)
        /// CURVE on tcp endpoints (docs/SECURITY.md); nil: plain sockets.
        public var curve: NodeCurve? = nil
        /// More registries over the same PostgreSQL database (docs/DEPLOYMENT.md): requests go round-robin
        /// to whichever are connected, so one that dies stops getting them.
        public var registryReplicas: [Endpoint] = []

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

        var machine: TrainerWorkerStateMachine.Configuration {
            var machine = TrainerWorkerStateMachine.Configuration()
            machine.commitAttempts = commitAttempts
            machine.maxSamplesPerUser = maxSamplesPerUser
            machine.replaySamples = replaySamples
            machine.replayFraction = replayFraction
            machine.historyRows = historyRows
            machine.requestTimeout = requestTimeout
            return machine
        }
    }

    public let configuration: Configuration
    public let logger: Logger
    /// Batches read from the PULL socket and not yet settled (stored and trained, or given back), at
    /// most. Beyond that the loop stops reading, the high-water marks fill and devices keep their
    /// batches in their outboxes; within it, a user's batches coalesce into one training round.
    /// 256 rather than 64: with 64 the held batches were all in rounds under way, so intake stopped
    /// until a commit released some and rounds stayed small; at 256 rounds coalesce about 2.7× more
    /// batches (a third of the 6.4 MB head commits) and `thaw bench system` (8 users × 32 batches)
    /// moved about 1.3× more samples per second, for about 150 MiB more worker memory (batches of 32
    /// activations at k = 7 are 400 KB each).
    static let inboundBatches = 256

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    enum Input: Sendable {
        case delivery(Delivery)
        case tick
        case shutdown
        case machine(TrainerWorkerStateMachine.Event)
    }

    public func run(shutdown: ShutdownSignal) async throws {
        if !ProcessAllocator.keepLargeBuffers() { logger.warning("the allocator could not be set to keep large buffers") }
        let context = try ZMQContext()
        defer { try? context.shutdown() }
        var specs = [
            SocketSpec(
                kind: .pull, bind: [configuration.pull],
                options: [.receiveHighWaterMark(16), .maxMessageSize(SocketLimits.dataFrame)],
                inboundLimit: Self.inboundBatches),
            SocketSpec(
                kind: .dealer, connect: [configuration.registry] + configuration.registryReplicas,
                // With replicas, only to registries that are connected (ZMQ_IMMEDIATE): a dead one's pipe
                // would otherwise queue its share of the requests until it comes back.
                options: [.maxMessageSize(SocketLimits.dataFrame)]
                    + (configuration.registryReplicas.isEmpty ? [] : [.immediate(true)])),
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
        let access = NodeCurve.policy(configuration.curve, bound: configuration.pull)
        let metrics = NodeMetrics(node: configuration.name, role: "worker")
        let refusals = InputRefusals(logger: logger, metrics: metrics)
        var counters: [TrainerWorkerStateMachine.WorkerCount: Counter] = [:]
        for what in TrainerWorkerStateMachine.WorkerCount.allCases {
            counters[what] = Counter(label: what.rawValue, factory: metrics)
        }
        let loss = Gauge(label: "loss", factory: metrics)
        let trainingTime = Timer(label: "training_seconds", factory: metrics)
        let (inputs, continuation) = AsyncStream<Input>.makeStream()
        let trainer = TrainingThread(recipe: configuration.recipe) { continuation.yield(.machine($0)) }
        trainer.start(name: "\(configuration.name)-training")
        defer { trainer.stop() }
        let logger = self.logger
        let name = configuration.name

        try await withNodeSocketLoop(context: context, sockets: specs, curve: configuration.curve, logger: logger) { loop in
            let (pull, dealer, sub) = (loop.sockets[0], loop.sockets[1], loop.sockets[2])
            let metricsSocket = loop.sockets.count > 3 ? loop.sockets[3] : nil
            ReadyLine(
                role: "worker", node: configuration.name,
                endpoints: ["pull": loop.boundEndpoints(of: pull).first?.rawValue ?? ""]
            ).emit()
            var machine = TrainerWorkerStateMachine(configuration: configuration.machine)
            var stamper = EnvelopeStamper(sender: name)
            var held: [DeliveryToken: Delivery] = [:]
            var nextToken: DeliveryToken = 0
            var trainingStarted: [UInt64: ContinuousClock.Instant] = [:]
            let started = ContinuousClock.now
            var lastMetrics = ContinuousClock.now
            var stopBy: ContinuousClock.Instant?

            func carryOut(_ actions: [TrainerWorkerStateMachine.Action]) async {
                for action in actions {
                    switch action {
                    case .send(let id, let message):
                        do {
                            let metadata = WireMetadata(sender: name, sequence: id, sentAtUnixMs: WallClock.nowMs())
                            try await loop.send(WireBridge.frames(try WireCodec.encode(message, metadata: metadata)), on: dealer)
                        } catch {
                            // The request times out in the machine; its batches go back to their devices.
                            logger.warning("could not send to the registry", metadata: ["request": "\(id)", "error": "\(error)"])
                        }
                    case .loadModel(let version, let bytes):
                        trainer.submit(.load(version, bytes))
                    case .advance(let token, let batch, let from, let to):
                        trainer.submit(.advance(token, batch, from: from, to: to, epoch: machine.deployment?.epoch ?? batch.epoch))
                    case .train(let job):
                        trainingStarted[job.id] = .now
                        trainer.submit(.train(job))
                    case .release(let token):
                        if let delivery = held.removeValue(forKey: token) { loop.release(delivery) }
                    case .count(let what, let amount):
                        counters[what]?.increment(by: amount)
                    case .refuse(let socket, let reason, let detail):
                        refusals.refuse(on: socket, reason: reason, detail: detail)
                    case .log(let level, let message, let metadata):
                        logger.log(
                            level: level, "\(message)", metadata: metadata.mapValues { Logger.MetadataValue.string($0) })
                    }
                }
            }

            func handle(_ event: TrainerWorkerStateMachine.Event) async {
                await carryOut(machine.handle(event, now: WallClock.now()))
            }

            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await delivery in loop.inbound { continuation.yield(.delivery(delivery)) }
                    continuation.finish()
                }
                let tickQueued = WorkerTickGate()
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .milliseconds(200))
                        if !tickQueued.flag.exchange(true, ordering: .acquiringAndReleasing) { continuation.yield(.tick) }
                    }
                }
                group.addTask {
                    if await shutdown.wait() != nil { continuation.yield(.shutdown) }
                }
                for await input in inputs {
                    switch input {
                    case .delivery(let delivery) where delivery.socket == dealer:
                        do {
                            let decoded = try WireCodec.decode(delivery.frames.map(\.bytes))
                            await handle(.reply(decoded.message, inReplyTo: decoded.metadata.inReplyTo))
                        } catch {
                            refusals.refuse(on: "dealer", error)
                        }
                    case .delivery(let delivery) where delivery.socket == sub:
                        do {
                            let decoded = try WireCodec.decodePublished(delivery.frames.map(\.bytes))
                            if let state = WireBridge.deploymentState(in: decoded.message) {
                                await handle(.deployment(WireBridge.deployment(state)))
                            }
                        } catch {
                            refusals.refuse(on: "sub", error)
                        }
                    case .delivery(let delivery) where delivery.socket == pull:
                        switch Self.decodeBatch(delivery, access: access, refusals: refusals) {
                        case .batch(let batch):
                            nextToken += 1
                            held[nextToken] = delivery
                            await handle(.batch(nextToken, batch))
                        case .retrain(let request):
                            loop.release(delivery)
                            await handle(.retrain(request))
                        case .refused:
                            loop.release(delivery)
                        }
                    case .delivery:
                        break
                    case .machine(let event):
                        switch event {
                        case .trained(let job, let result):
                            loss.record(Double(result.loss))
                            if let start = trainingStarted.removeValue(forKey: job) {
                                trainingTime.recordNanoseconds(Int64((ContinuousClock.now - start) / .nanoseconds(1)))
                            }
                        case .trainingFailed(let job, _):
                            trainingStarted[job] = nil
                        default:
                            break
                        }
                        await handle(event)
                    case .tick:
                        tickQueued.flag.store(false, ordering: .releasing)
                        await handle(.tick)
                        if let metricsSocket, ContinuousClock.now - lastMetrics >= .seconds(2) {
                            lastMetrics = ContinuousClock.now
                            let seconds = max((ContinuousClock.now - started) / .seconds(1), 0.001)
                            let report = metrics.report(gauges: [
                                "batches_per_s": Double(machine.count(.batches)) / seconds,
                                "samples_per_s": Double(machine.count(.trainedSamples)) / seconds,
                            ])
                            _ = try? loop.trySend(try stamper.encodePublished(.metrics(report)), on: metricsSocket)
                        }
                    case .shutdown:
                        // Stop taking new batches; rounds in flight finish (or time out) within the deadline.
                        await handle(.shutdown)
                        stopBy = .now + .seconds(6)
                    }
                    if let deadline = stopBy, machine.isIdle || ContinuousClock.now >= deadline { break }
                }
                continuation.finish()
                group.cancelAll()
            }
            for delivery in held.values { loop.release(delivery) }
            logger.info(
                "worker stopping",
                metadata: [
                    "batches": "\(machine.count(.batches))", "commits": "\(machine.count(.commits))",
                    "refused": "\(refusals.total)", "idle": "\(machine.isIdle)",
                ])
        }
    }

    enum PullInput {
        case batch(ThawWire.FeatureBatch)
        case retrain(RetrainRequest)
        case refused
    }

    /// Decodes one PULL message and checks who may send it (CURVE User-Id on tcp).
    static func decodeBatch(_ delivery: Delivery, access: AccessPolicy?, refusals: InputRefusals) -> PullInput {
        let userID = delivery.userID
        do {
            switch try WireCodec.decode(delivery.frames.map(\.bytes)).message {
            case .featureBatch(let batch):
                if let refusal = access?.checkBatch(batch, from: userID) {
                    refusals.refuse(
                        on: "pull", reason: InputViolation.Reason.forbidden.rawValue,
                        detail: "batch \(batch.deviceID)#\(batch.deviceSeq): \(refusal)")
                    return .refused
                }
                return .batch(batch)
            case .retrainRequest(let request):
                // Only the registry asks for retraining (it relays the coordinator's state).
                if let refusal = access?.checkRetrain(from: userID) {
                    refusals.refuse(
                        on: "pull", reason: InputViolation.Reason.forbidden.rawValue, detail: "retrain request: \(refusal)")
                    return .refused
                }
                return .retrain(request)
            case let other:
                throw InputViolation(.unexpectedKind, "\(other.kind) on the batch socket, which takes feature batches")
            }
        } catch {
            refusals.refuse(on: "pull", error)
            return .refused
        }
    }
}

/// Whether a tick is already waiting in the worker's input stream (shared by the ticker and the consumer).
private final class WorkerTickGate: Sendable {
    let flag = Atomic<Bool>(false)
}
