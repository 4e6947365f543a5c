import CoreMetrics
import Foundation
import Logging
import ThawModel
import ThawNN
import ThawWire
import ThawZMQ

/// The registry process: the durable store behind one ROUTER.
///
/// Every request is answered on the ROUTER to the peer that sent it, its reply echoing the request's
/// id (`Envelope.in_reply_to`). Decisions are the ``ModelRegistryStateMachine``'s: it answers from its
/// in-memory index what needs no blob, and orders store operations that ``RegistryStorage`` runs on its
/// writer thread (group commit) and reader thread while the event handler keeps serving; results come
/// back as events. A request that fails validation or that the store refuses gets an `ErrorReply` and
/// changes nothing. On shutdown the node stops taking requests (they get `UNAVAILABLE`), answers what
/// the store was doing, then returns.
public struct RegistryNode: Sendable {
    public struct Configuration: Sendable {
        public var name: String
        public var router: Endpoint
        public var databasePath: String
        /// Base model files to store at start (idempotent by version).
        public var baseModels: [BaseModelFile]
        /// The monitor's metrics endpoint (PUB connects there), if any.
        public var metrics: Endpoint?
        /// CURVE on tcp endpoints (docs/SECURITY.md); nil: plain sockets.
        public var curve: NodeCurve? = nil
        /// The coordinator's PUB endpoint: with it the registry follows freeze moves and advances stored
        /// activations itself (docs/FREEZE-MOVES.md); without it, it only serves requests.
        public var coordinator: Endpoint?
        /// Worker PULL endpoints that receive `RetrainRequest`s once a user's rows were advanced.
        public var workers: [Endpoint]
        /// Where the registry binds a PUB that announces each committed head (topic `heads`); nil: none.
        public var announce: Endpoint? = nil
        /// Superseded head versions kept per user besides the latest; nil keeps all.
        public var keepHeads: Int? = RegistryNode.defaultKeepHeads
        /// How often the in-memory index is merged with the database, where other registries may write
        /// (docs/DEPLOYMENT.md). nil: never, which is right only for a database this process alone
        /// writes. The initialiser sets 1 s for a server database and nil for a SQLite file.
        public var indexRefresh: Duration?

        public init(
            name: String, router: Endpoint, databasePath: String, baseModels: [BaseModelFile], metrics: Endpoint? = nil,
            coordinator: Endpoint? = nil, workers: [Endpoint] = []
        ) {
            self.name = name
            self.router = router
            self.databasePath = databasePath
            self.baseModels = baseModels
            self.metrics = metrics
            self.coordinator = coordinator
            self.workers = workers
            indexRefresh = RegistryBackends.isServer(databasePath) ? RegistryNode.sharedIndexRefresh : nil
        }
    }

    /// A base model checkpoint as bytes, with the version and content hash read from it.
    public struct BaseModelFile: Sendable {
        public var version: ModelVersion
        public var hash: String
        public var bytes: [UInt8]

        public init(version: ModelVersion, hash: String, bytes: [UInt8]) {
            self.version = version
            self.hash = hash
            self.bytes = bytes
        }
    }

    /// Superseded heads kept per user when the topology says nothing (docs/REGISTRY.md).
    public static let defaultKeepHeads = 16

    /// How often a registry on a shared (server) database merges what other registries wrote into its
    /// index: the longest a head another registry committed is answered NO_HEAD / NOT_MODIFIED here.
    public static let sharedIndexRefresh: Duration = .seconds(1)

    public let configuration: Configuration
    public let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run(shutdown: ShutdownSignal) async throws {
        if !ProcessAllocator.keepLargeBuffers() { logger.warning("the allocator could not be set to keep large buffers") }
        // Start-up work before any socket exists, on a thread of its own (it blocks on the database):
        // open the store (SQLite file or PostgreSQL server), store the base model files, read the index.
        let configuration = self.configuration
        let store = try await BlockingWork.run("registry-open") { try RegistryBackends.open(configuration.databasePath) }
        defer { try? store.close() }
        let (index, contracts) = try await BlockingWork.run("registry-start") {
            let handler = RegistryStoreHandler(store: store)
            for model in configuration.baseModels {
                let reply = try handler.handle(
                    .storeBaseModel(version: model.version, hash: model.hash, checkpoint: model.bytes))
                if case .rejected(let error) = reply { throw error }
            }
            return (try store.loadIndex(), try Self.loadContracts(store))
        }
        logger.info("registry store open", metadata: ["database": "\(store.location)"])
        let access = NodeCurve.policy(configuration.curve, bound: configuration.router)
        var machine = ModelRegistryStateMachine(
            index: index, contracts: contracts,
            configuration: .init(keepHeads: configuration.keepHeads, access: access))
        var stamper = EnvelopeStamper(sender: configuration.name)
        var announceStamper = EnvelopeStamper(sender: configuration.name)
        let logger = self.logger
        let metrics = NodeMetrics(node: configuration.name, role: "registry")
        let refusals = InputRefusals(logger: logger, metrics: metrics)
        var counters: [ModelRegistryStateMachine.Metric: Counter] = [:]
        for metric in ModelRegistryStateMachine.Metric.allCases {
            let counter = Counter(label: metric.rawValue, factory: metrics)
            counter.increment(by: 0)
            counters[metric] = counter
        }
        let inFlight = Gauge(label: "store_in_flight", factory: metrics)
        let indexedUsers = Gauge(label: "users_with_heads", factory: metrics)

        let context = try ZMQContext()
        defer { try? context.shutdown() }
        // The ROUTER first; the optional sockets follow in this order, each index recorded as it is added.
        var specs = [
            SocketSpec(kind: .router, bind: [configuration.router], options: [.maxMessageSize(SocketLimits.dataFrame)])
        ]
        var metricsIndex: Int?
        var announceIndex: Int?
        var subIndex: Int?
        var pushIndex: Int?
        if let metrics = configuration.metrics {
            metricsIndex = specs.count
            specs.append(SocketSpec(kind: .pub, connect: [metrics], options: [.sendHighWaterMark(100)]))
        }
        if let announce = configuration.announce {
            announceIndex = specs.count
            specs.append(SocketSpec(kind: .pub, bind: [announce], options: [.sendHighWaterMark(10_000)]))
        }
        if let coordinator = configuration.coordinator {
            subIndex = specs.count
            specs.append(
                SocketSpec(
                    kind: .sub, connect: [coordinator],
                    options: [
                        .subscribe(Topic.heartbeat.rawValue), .subscribe(Topic.freeze.rawValue),
                        .subscribe(Topic.model.rawValue), .maxMessageSize(SocketLimits.smallFrame),
                    ]))
            if !configuration.workers.isEmpty {
                pushIndex = specs.count
                specs.append(
                    SocketSpec(
                        kind: .push, connect: configuration.workers,
                        options: [.sendHighWaterMark(1000), .linger(.seconds(1))]))
            }
        }
        let (events, continuation) = AsyncStream<RegistryEvent>.makeStream()
        let storage = RegistryStorage(store: store) { ticket, result in
            continuation.yield(.stored(ticket, result))
        }
        defer { storage.finish() }
        try await withNodeSocketLoop(context: context, sockets: specs, curve: configuration.curve, logger: logger) {
            loop in
            let router = loop.sockets[0]
            let metricsSocket = metricsIndex.map { loop.sockets[$0] }
            let announceSocket = announceIndex.map { loop.sockets[$0] }
            let sub = subIndex.map { loop.sockets[$0] }
            let mover = RegistryFreezeMoveThread(
                mover: RegistryFreezeMover(
                    store: store, push: pushIndex.map { loop.sockets[$0] }, loop: loop, logger: logger,
                    stamper: EnvelopeStamper(sender: configuration.name)))
            mover.start()
            defer { mover.stop() }
            var endpoints = ["router": loop.boundEndpoints(of: router).first?.rawValue ?? ""]
            if let announceSocket {
                endpoints["announce"] = loop.boundEndpoints(of: announceSocket).first?.rawValue ?? ""
            }
            ReadyLine(role: "registry", node: configuration.name, endpoints: endpoints).emit()

            func carryOut(_ actions: [ModelRegistryStateMachine.Action]) async throws {
                for action in actions {
                    switch action {
                    case .reply(let peer, let id, let message, let refusal):
                        if let refusal { refusals.refuse(on: "router", refusal) }
                        try await loop.send(
                            [Frame(peer.routingID)] + (try stamper.encode(message, inReplyTo: id)), on: router)
                    case .store(let ticket, let operation):
                        storage.submit(ticket, operation)
                    case .announce(let announcement):
                        if let announceSocket {
                            _ = try? loop.trySend(
                                try announceStamper.encodePublished(.headAnnounce(announcement)), on: announceSocket)
                        }
                    case .count(let metric, let amount):
                        counters[metric]?.increment(by: amount)
                    case .logFailure(let detail):
                        logger.error("registry store operation failed", metadata: ["error": "\(detail)"])
                    }
                }
            }

            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await delivery in loop.inbound { continuation.yield(.delivery(delivery)) }
                    continuation.finish()
                }
                group.addTask {
                    // Ticks publish gauges and metrics; freeze-move pages run on their own thread.
                    while !Task.isCancelled {
                        try await Task.sleep(for: .milliseconds(50))
                        continuation.yield(.tick)
                    }
                }
                group.addTask {
                    if await shutdown.wait() != nil { continuation.yield(.shutdown) }
                }
                if let refresh = configuration.indexRefresh {
                    group.addTask {
                        // Another registry may have committed heads or stored batches: read the index
                        // again (off the event handler) and merge it. A failed read is retried next time.
                        while !Task.isCancelled {
                            try await Task.sleep(for: refresh)
                            if let fresh = try? await BlockingWork.run("registry-index", { try store.loadIndex() }) {
                                continuation.yield(.indexRead(fresh))
                            }
                        }
                    }
                }
                var lastMetrics = ContinuousClock.now
                var lastTick = ContinuousClock.now
                var stopping = false
                for await event in events {
                    switch event {
                    case .delivery(let delivery) where delivery.socket == sub:
                        mover.observe(delivery.frames.map(\.bytes))
                    case .delivery(let delivery):
                        // A ROUTER delivery is [routing id, message…]; without a message there is nobody to answer.
                        guard delivery.frames.count >= 2 else {
                            refusals.refuse(
                                on: "router", reason: InputViolation.Reason.frameLayout.rawValue,
                                detail: "\(delivery.frames.count) frames: no message after the routing id")
                            continue
                        }
                        let peer = ModelRegistryStateMachine.Peer(
                            routingID: delivery.frames[0].bytes, userID: delivery.userID)
                        let frames = WireBridge.bytes(delivery.frames.dropFirst())
                        let request: DecodedMessage
                        do {
                            request = try WireCodec.decode(frames)
                        } catch {
                            refusals.refuse(on: "router", error)
                            let id = frames.first.flatMap(EnvelopePeek.sequence) ?? 0
                            try await carryOut([ModelRegistryStateMachine.malformed(peer, id: id, error)])
                            continue
                        }
                        try await carryOut(machine.receive(request, from: peer))
                    case .stored(let ticket, let result):
                        try await carryOut(machine.stored(ticket: ticket, result))
                    case .indexRead(let fresh):
                        machine.merge(fresh)
                    case .tick:
                        // Ticks are coalesced: a burst queued behind slow work runs once.
                        guard ContinuousClock.now - lastTick >= .milliseconds(40) else { break }
                        lastTick = ContinuousClock.now
                        inFlight.record(machine.pendingCount)
                        indexedUsers.record(machine.index.heads.count)
                        if let metricsSocket, ContinuousClock.now - lastMetrics >= .seconds(2) {
                            lastMetrics = ContinuousClock.now
                            _ = try? loop.trySend(
                                try stamper.encodePublished(.metrics(Self.metricsReport(metrics, store: store))),
                                on: metricsSocket)
                        }
                    case .shutdown:
                        // Stop taking new work; what the store is doing still completes and is answered.
                        stopping = true
                        machine.stopAccepting()
                    }
                    if stopping && machine.pendingCount == 0 { break }
                }
                continuation.finish()
                group.cancelAll()
            }
        }
        // What this process wrote, for the log: with several registries it shows each one's share.
        let written = store.counters
        logger.info(
            "registry stopped",
            metadata: [
                "batches.stored": "\(written.batchesStored)", "duplicates": "\(written.duplicates)",
                "commits": "\(written.commits)", "conflicts": "\(written.conflicts)",
            ])
    }

    /// The contract of every registered base model (decoded once at start).
    static func loadContracts(_ store: any RegistryBackend) throws -> [ModelVersion: ModelContract] {
        var contracts: [ModelVersion: ModelContract] = [:]
        for version in try store.baseModelVersions() {
            guard let record = try store.baseModel(version),
                let contents = try? ModelCheckpoint.decode([UInt8](record.blob))
            else { continue }
            contracts[version] = ModelContract(contents.architecture)
        }
        return contracts
    }

    /// The node's metrics (counters declared where counted) plus the store's advance counter.
    static func metricsReport(_ metrics: NodeMetrics, store: any RegistryBackend) -> MetricsReport {
        metrics.report(counters: ["features_advanced": UInt64(store.counters.featuresAdvanced)])
    }
}

/// What the registry node's single event handler consumes.
enum RegistryEvent: Sendable {
    case delivery(Delivery)
    case stored(UInt64, ModelRegistryStateMachine.StoreResult)
    /// The index as the database holds it now (shared databases only).
    case indexRead(RegistryIndex)
    case tick
    case shutdown
}
