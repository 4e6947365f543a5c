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
        /// The coordinator's PUB endpoint: with it the registry follows freeze moves and advances stored
        /// activations itself (docs/FREEZE-MOVES.md); without it, it only serves requests.
        public var coordinator: Endpoint?
        /// Worker PULL endpoints that receive `RetrainRequest`s once a user's rows were advanced.
        public var workers: [Endpoint]

        public init(
            name: String, router: Endpoint, databasePath: String, baseModels: [BaseModelFile],
            coordinator: Endpoint? = nil, workers: [Endpoint] = []
        ) {
            self.name = name
            self.router = router
            self.databasePath = databasePath
            self.baseModels = baseModels
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
        for model in configuration.baseModels {
            _ = try store.putBaseModel(version: model.version, hash: model.hash, blob: Data(model.bytes))
        }
        let machine = ModelRegistryStateMachine(store: store)
        var stamper = EnvelopeStamper(sender: configuration.name)
        let logger = self.logger

        let context = try ZMQContext()
        defer { try? context.shutdown() }
        var specs = [SocketSpec(kind: .router, bind: [configuration.router], options: [.maxMessageSize(256 << 20)])]
        if let coordinator = configuration.coordinator {
            specs.append(
                SocketSpec(
                    kind: .sub, connect: [coordinator],
                    options: [.subscribe(Topic.heartbeat.rawValue), .subscribe(Topic.freeze.rawValue),
                              .subscribe(Topic.model.rawValue)]))
            if !configuration.workers.isEmpty {
                specs.append(
                    SocketSpec(
                        kind: .push, connect: configuration.workers,
                        options: [.sendHighWaterMark(1000), .linger(.seconds(1))]))
            }
        }
        try await withSocketLoop(context: context, sockets: specs) { loop in
            let router = loop.sockets[0]
            let sub = loop.sockets.count > 1 ? loop.sockets[1] : nil
            var mover = RegistryFreezeMover(
                store: store, push: loop.sockets.count > 2 ? loop.sockets[2] : nil, loop: loop, logger: logger,
                stamper: EnvelopeStamper(sender: configuration.name))
            ReadyLine(
                role: "registry", node: configuration.name,
                endpoints: ["router": loop.boundEndpoints(of: router).first?.rawValue ?? ""]
            ).emit()
            // Ticks drive the advancer one page at a time between requests; 50 ms keeps a move's cloud
            // work close to its compute time without spinning when there is none.
            try await runNodeEvents(loop: loop, tickEvery: .milliseconds(50), shutdown: shutdown) { event in
                switch event {
                case .tick:
                    try await mover.tick()
                    return true
                case .delivery(let delivery) where delivery.socket == sub:
                    mover.observe(delivery.frames.map(\.bytes))
                    return true
                case .delivery(let delivery) where delivery.frames.count >= 2:
                    break
                case .delivery, .shutdown:
                    return true
                }
                guard case .delivery(let delivery) = event else { return true }
                let routingID = delivery.frames[0]
                let reply: ThawMessage
                do {
                    let request = try WireCodec.decode(WireBridge.bytes(delivery.frames.dropFirst()))
                    reply = try RegistryWireAdapter.answer(request, machine: machine)
                } catch {
                    logger.warning("refused a request", metadata: ["error": "\(error)"])
                    reply = .errorReply(ErrorReply(code: .malformed, message: "\(error)"))
                }
                try await loop.send([routingID] + (try stamper.encode(reply)), on: router)
                return true
            }
        }
    }
}
