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
        /// CURVE on tcp endpoints (docs/SECURITY.md); nil: plain sockets.
        public var curve: NodeCurve? = nil

        public init(name: String, router: Endpoint, databasePath: String, baseModels: [BaseModelFile]) {
            self.name = name
            self.router = router
            self.databasePath = databasePath
            self.baseModels = baseModels
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
        let specs = [SocketSpec(kind: .router, bind: [configuration.router], options: [.maxMessageSize(256 << 20)])]
        let access = NodeCurve.policy(configuration.curve, bound: configuration.router)
        var forbidden = 0
        try await withNodeSocketLoop(context: context, sockets: specs, curve: configuration.curve, logger: logger) { loop in
            let router = loop.sockets[0]
            ReadyLine(
                role: "registry", node: configuration.name,
                endpoints: ["router": loop.boundEndpoints(of: router).first?.rawValue ?? ""]
            ).emit()
            try await runNodeEvents(loop: loop, tickEvery: .seconds(5), shutdown: shutdown) { event in
                guard case .delivery(let delivery) = event, delivery.frames.count >= 2 else { return true }
                let routingID = delivery.frames[0]
                let reply: ThawMessage
                do {
                    let request = try WireCodec.decode(WireBridge.bytes(delivery.frames.dropFirst()))
                    if let refusal = access?.checkRegistry(request.message, from: delivery.userID) {
                        // A device asking for (or feeding) another user's head: refused, counted, logged.
                        forbidden += 1
                        logger.warning(
                            "refused a request from an authenticated peer",
                            metadata: [
                                "kind": "\(request.message.kind)", "refusal": "\(refusal)",
                                "forbidden.total": "\(forbidden)",
                            ])
                        let refused = ThawMessage.errorReply(ErrorReply(code: .forbidden, message: "forbidden: \(refusal)"))
                        try await loop.send([routingID] + (try stamper.encode(refused)), on: router)
                        return true
                    }
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
