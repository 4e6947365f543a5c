import Foundation
import Logging
import ThawNN
import ThawWire
import ThawZMQ

/// The registry process: the durable store behind one ROUTER.
///
/// Every request is answered on the ROUTER to the peer that sent it. Requests are served one at a
/// time in arrival order by the single node task, so SQLite sees one writer; a request that fails
/// validation or that the store refuses gets an `ErrorReply` and changes nothing.
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

    public let configuration: Configuration
    public let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run(shutdown: ShutdownSignal) async throws {
        let store = try RegistryStore(path: configuration.databasePath)
        defer { try? store.close() }
        let machine = ModelRegistryStateMachine(store: store)
        for model in configuration.baseModels {
            let reply = try machine.handle(.storeBaseModel(version: model.version, hash: model.hash, checkpoint: model.bytes))
            if case .rejected(let error) = reply { throw error }
        }
        var stamper = EnvelopeStamper(sender: configuration.name)
        var contracts = RegistryContracts()
        let logger = self.logger
        let refusals = InputRefusals(logger: logger)

        let context = try ZMQContext()
        defer { try? context.shutdown() }
        // The ROUTER first; the optional sockets follow in this order, each index recorded as it is added.
        var specs = [
            SocketSpec(kind: .router, bind: [configuration.router], options: [.maxMessageSize(SocketLimits.dataFrame)])
        ]
        var metricsIndex: Int?
        var subIndex: Int?
        var pushIndex: Int?
        if let metrics = configuration.metrics {
            metricsIndex = specs.count
            specs.append(SocketSpec(kind: .pub, connect: [metrics], options: [.sendHighWaterMark(100)]))
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
        let access = NodeCurve.policy(configuration.curve, bound: configuration.router)
        try await withNodeSocketLoop(context: context, sockets: specs, curve: configuration.curve, logger: logger) { loop in
            let router = loop.sockets[0]
            let metricsSocket = metricsIndex.map { loop.sockets[$0] }
            let sub = subIndex.map { loop.sockets[$0] }
            var mover = RegistryFreezeMover(
                store: store, push: pushIndex.map { loop.sockets[$0] }, loop: loop, logger: logger,
                stamper: EnvelopeStamper(sender: configuration.name))
            ReadyLine(
                role: "registry", node: configuration.name,
                endpoints: ["router": loop.boundEndpoints(of: router).first?.rawValue ?? ""]
            ).emit()
            var lastMetrics = ContinuousClock.now
            // Ticks drive the advancer one page at a time between requests; 50 ms keeps a move's cloud
            // work close to its compute time without spinning when there is none.
            try await runNodeEvents(loop: loop, tickEvery: .milliseconds(50), shutdown: shutdown) { event in
                switch event {
                case .delivery(let delivery) where delivery.socket == sub:
                    mover.observe(delivery.frames.map(\.bytes))
                case .delivery(let delivery):
                    // A ROUTER delivery is [routing id, message…]; without a message there is nobody to answer.
                    guard delivery.frames.count >= 2 else {
                        refusals.refuse(
                            on: "router", reason: InputViolation.Reason.frameLayout.rawValue,
                            detail: "\(delivery.frames.count) frames: no message after the routing id")
                        return true
                    }
                    let reply = Self.reply(
                        to: WireBridge.bytes(delivery.frames.dropFirst()), from: delivery.userID, access: access,
                        machine: machine, contracts: &contracts, refusals: refusals, logger: logger)
                    try await loop.send([delivery.frames[0]] + (try stamper.encode(reply)), on: router)
                case .tick:
                    try await mover.tick()
                    if let metricsSocket, ContinuousClock.now - lastMetrics >= .seconds(2) {
                        lastMetrics = ContinuousClock.now
                        let report = Self.metricsReport(
                            name: configuration.name, counters: store.counters, refusals: refusals)
                        _ = try? loop.trySend(try stamper.encodePublished(.metrics(report)), on: metricsSocket)
                    }
                case .shutdown:
                    break
                }
                return true
            }
        }
    }

    /// The answer to one request's frames: the store's reply, or an `ErrorReply` that says why the
    /// request was refused (counted in `refusals`). Only store failures (disk, database) are not the
    /// peer's fault; they are logged as errors and answered with `.internal`.
    /// The answer to one request; `userID` is the CURVE-authenticated peer's ZAP User-Id, which `access`
    /// checks (a device asking for or feeding another user's head is refused as forbidden).
    static func reply(
        to frames: [[UInt8]], from userID: String?, access: AccessPolicy?, machine: ModelRegistryStateMachine,
        contracts: inout RegistryContracts, refusals: InputRefusals, logger: Logger
    ) -> ThawMessage {
        let request: DecodedMessage
        do {
            request = try WireCodec.decode(frames)
        } catch {
            refusals.refuse(on: "router", error)
            return .errorReply(ErrorReply(code: .malformed, message: "\(error)"))
        }
        let sequence = request.metadata.sequence
        if let refusal = access?.checkRegistry(request.message, from: userID) {
            refusals.refuse(on: "router", reason: InputViolation.Reason.forbidden.rawValue, detail: "\(refusal)")
            return .errorReply(
                ErrorReply(code: .forbidden, message: "forbidden: \(refusal)", inReplyToSequence: sequence))
        }
        do {
            return try RegistryWireAdapter.answer(request, machine: machine, contracts: &contracts)
        } catch let violation as InputViolation {
            refusals.refuse(on: "router", violation)
            let code: ErrorReply.Code = violation.reason == .unexpectedKind ? .unsupported : .malformed
            return .errorReply(ErrorReply(code: code, message: "\(violation)", inReplyToSequence: sequence))
        } catch {
            logger.error("could not answer a request", metadata: ["error": "\(error)"])
            return .errorReply(ErrorReply(code: .internal, message: "\(error)", inReplyToSequence: sequence))
        }
    }

    static func metricsReport(name: String, counters: RegistryCounters, refusals: InputRefusals) -> MetricsReport {
        var values: [String: UInt64] = [
            "batches_stored": UInt64(counters.batchesStored), "samples_stored": UInt64(counters.samplesStored),
            "duplicates": UInt64(counters.duplicates), "heads_served": UInt64(counters.headsServed),
            "not_modified": UInt64(counters.notModified), "commits": UInt64(counters.commits),
            "conflicts": UInt64(counters.conflicts), "features_served": UInt64(counters.featuresServed),
        ]
        values.merge(refusals.counters) { $1 }
        return MetricsReport(node: name, role: "registry", timestampMs: WallClock.nowMs(), counters: values)
    }
}
