import Logging
import ThawNN
import ThawWire
import ThawZMQ

/// The coordinator process: owns the deployment state, publishes it, and takes operator commands.
///
/// Sockets (all on one loop thread): a PUB that broadcasts model announcements, freeze-point
/// changes, invalidations and heartbeats (topic frame first), and a ROUTER for `thaw ctl`. A command
/// is a request of the same message kind it causes: a `ModelAnnounce` asks to publish a model, a
/// `FreezePointChange` to move the split, an `Invalidation` to invalidate samples, and a
/// `Heartbeat` asks for the status; the reply is a `Heartbeat` with the new state or an `ErrorReply`.
public struct CoordinatorNode: Sendable {
    public struct Configuration: Sendable {
        public var name: String
        public var publish: Endpoint
        public var control: Endpoint
        public var stateFile: String
        public var initial: DeploymentState
        public var machine: CoordinatorStateMachine.Configuration
        /// CURVE on tcp endpoints (docs/SECURITY.md); nil: plain sockets.
        public var curve: NodeCurve? = nil

        public init(
            name: String, publish: Endpoint, control: Endpoint, stateFile: String,
            initial: DeploymentState, machine: CoordinatorStateMachine.Configuration
        ) {
            self.name = name
            self.publish = publish
            self.control = control
            self.stateFile = stateFile
            self.initial = initial
            self.machine = machine
        }
    }

    public let configuration: Configuration
    public let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run(shutdown: ShutdownSignal) async throws {
        let store = CoordinatorStateStore(path: configuration.stateFile)
        let snapshot = try store.load()
        var machine = try CoordinatorStateMachine(
            configuration: configuration.machine, initial: configuration.initial, restoring: snapshot,
            now: WallClock.now())
        var stamper = EnvelopeStamper(sender: configuration.name)
        let logger = self.logger
        if let snapshot {
            logger.info(
                "restored deployment state",
                metadata: [
                    "model.version": "\(snapshot.deployment.modelVersion)",
                    "freeze.point": "\(snapshot.deployment.freezePoint)",
                ])
        }
        try store.save(machine.snapshot)

        let context = try ZMQContext()
        defer { try? context.shutdown() }
        let specs = [
            SocketSpec(kind: .pub, bind: [configuration.publish], options: [.sendHighWaterMark(10_000)]),
            SocketSpec(kind: .router, bind: [configuration.control], options: [.maxMessageSize(1 << 20)]),
        ]
        let access = NodeCurve.policy(configuration.curve, bound: configuration.control)
        var forbidden = 0
        try await withNodeSocketLoop(context: context, sockets: specs, curve: configuration.curve, logger: logger) { loop in
            let pub = loop.sockets[0]
            let control = loop.sockets[1]
            ReadyLine(
                role: "coordinator", node: configuration.name,
                endpoints: [
                    "publish": loop.boundEndpoints(of: pub).first?.rawValue ?? "",
                    "control": loop.boundEndpoints(of: control).first?.rawValue ?? "",
                ]
            ).emit()

            func carryOut(_ actions: [CoordinatorAction]) async throws {
                for action in actions {
                    switch action {
                    case .persist(let snapshot):
                        try store.save(snapshot)
                    case .broadcastModelAnnounce(let state):
                        logger.info("model announced", metadata: ["model.version": "\(state.modelVersion)"])
                        let message = ThawMessage.modelAnnounce(
                            ModelAnnounce(
                                state: WireBridge.wire(state), checkpointLocation: "registry", checkpointByteLength: 0))
                        try await loop.send(try stamper.encodePublished(message), on: pub)
                    case .broadcastFreezePointChange(let from, let to, let state):
                        logger.info("freeze point moved", metadata: ["freeze.point": "\(to)", "from": "\(from)"])
                        let message = ThawMessage.freezePointChange(
                            FreezePointChange(
                                state: WireBridge.wire(state), fromFreezePoint: UInt32(from.index), reason: "operator"))
                        try await loop.send(try stamper.encodePublished(message), on: pub)
                    case .broadcastInvalidation(let invalidation):
                        let message = ThawMessage.invalidation(
                            ThawWire.Invalidation(
                                epoch: invalidation.epoch, modelVersion: machine.deployment.modelVersion.number,
                                userID: invalidation.user?.rawValue, sampleIDs: invalidation.sampleIds,
                                reason: invalidation.reason.rawValue))
                        try await loop.send(try stamper.encodePublished(message), on: pub)
                    case .broadcastHeartbeat(let state, let counter):
                        let message = ThawMessage.heartbeat(
                            Heartbeat(
                                state: WireBridge.wire(state), coordinatorStartedAtMs: WallClock.nowMs(),
                                counter: counter))
                        try await loop.send(try stamper.encodePublished(message), on: pub)
                    }
                }
            }

            try await runNodeEvents(loop: loop, tickEvery: .milliseconds(200), shutdown: shutdown) { event in
                switch event {
                case .tick:
                    try await carryOut(machine.tick(now: WallClock.now()))
                case .shutdown:
                    logger.info("coordinator stopping")
                case .delivery(let delivery) where delivery.socket == control:
                    guard delivery.frames.count >= 2 else { return true }
                    let routingID = delivery.frames[0]
                    let reply: ThawMessage
                    do {
                        let request = try WireCodec.decode(WireBridge.bytes(delivery.frames.dropFirst()))
                        if let refusal = access?.checkControl(from: delivery.userID) {
                            forbidden += 1
                            logger.warning(
                                "refused a control command", metadata: ["refusal": "\(refusal)", "forbidden.total": "\(forbidden)"])
                            let refused = ThawMessage.errorReply(ErrorReply(code: .forbidden, message: "forbidden: \(refusal)"))
                            try await loop.send([routingID] + (try stamper.encode(refused)), on: control)
                            return true
                        }
                        reply = try await answer(request.message, machine: &machine, carryOut: carryOut)
                    } catch {
                        logger.warning("refused a control request", metadata: ["error": "\(error)"])
                        reply = .errorReply(ErrorReply(code: .malformed, message: "\(error)"))
                    }
                    try await loop.send([routingID] + (try stamper.encode(reply)), on: control)
                case .delivery:
                    break
                }
                return true
            }
        }
    }

    private func answer(
        _ request: ThawMessage, machine: inout CoordinatorStateMachine,
        carryOut: ([CoordinatorAction]) async throws -> Void
    ) async throws -> ThawMessage {
        switch request {
        case .modelAnnounce(let announce):
            try await carryOut(
                machine.publishModel(
                    version: ModelVersion(announce.state.modelVersion), hash: announce.state.modelHash))
        case .freezePointChange(let change):
            try await carryOut(
                machine.moveFreezePoint(to: FreezePoint(Int(change.state.freezePoint)), now: WallClock.now()))
        case .invalidation(let invalidation):
            try await carryOut(
                machine.invalidate(
                    user: invalidation.userID.map(UserID.init), sampleIds: invalidation.sampleIDs,
                    reason: InvalidationReason(rawValue: invalidation.reason) ?? .operatorRequest))
        case .heartbeat:
            break
        default:
            return .errorReply(ErrorReply(code: .unsupported, message: "the coordinator does not handle \(request.kind)"))
        }
        return .heartbeat(
            Heartbeat(
                state: WireBridge.wire(machine.deployment), coordinatorStartedAtMs: WallClock.nowMs(),
                counter: machine.heartbeatCounter))
    }
}
