import CoreMetrics
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
///
/// With the automatic freeze policy on, a DEALER to the registry asks every `sampleCountInterval` how many
/// samples each user has stored under the current stamps and feeds the answer to the state machine, whose
/// tick decides whether to thaw a layer. The request waits at most 2 s, so a dead registry delays a
/// heartbeat by that much at worst and never stops the coordinator.
public struct CoordinatorNode: Sendable {
    public struct Configuration: Sendable {
        public var name: String
        public var publish: Endpoint
        public var control: Endpoint
        public var stateFile: String
        public var initial: DeploymentState
        public var machine: CoordinatorStateMachine.Configuration
        /// The registry to ask for stored-sample counts; nil when the automatic freeze policy is off.
        public var registry: Endpoint?
        public var sampleCountInterval: Duration
        /// The monitor's metrics endpoint (a PUB connects there), if any.
        public var metrics: Endpoint?
        /// CURVE on tcp endpoints (docs/SECURITY.md); nil: plain sockets.
        public var curve: NodeCurve? = nil

        public init(
            name: String, publish: Endpoint, control: Endpoint, stateFile: String,
            initial: DeploymentState, machine: CoordinatorStateMachine.Configuration, registry: Endpoint? = nil,
            sampleCountInterval: Duration = .seconds(5), metrics: Endpoint? = nil
        ) {
            self.metrics = metrics
            self.name = name
            self.publish = publish
            self.control = control
            self.stateFile = stateFile
            self.initial = initial
            self.machine = machine
            self.registry = registry
            self.sampleCountInterval = sampleCountInterval
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
        var specs = [
            SocketSpec(kind: .pub, bind: [configuration.publish], options: [.sendHighWaterMark(10_000)]),
            SocketSpec(
                kind: .router, bind: [configuration.control], options: [.maxMessageSize(SocketLimits.smallFrame)]),
        ]
        // Optional sockets follow the PUB and the ROUTER in this order; their indices are found by kind below.
        if let registry = configuration.registry {
            specs.append(SocketSpec(kind: .dealer, connect: [registry], options: [.maxMessageSize(64 << 20)]))
        }
        if let metrics = configuration.metrics {
            specs.append(SocketSpec(kind: .pub, connect: [metrics], options: [.sendHighWaterMark(100)]))
        }
        let startedAtMs = WallClock.nowMs()
        let replies = DeliveryQueue()
        let metrics = NodeMetrics(node: configuration.name, role: "coordinator")
        let refusals = InputRefusals(logger: logger, metrics: metrics)
        let commands = Counter(label: "commands", factory: metrics)
        let heartbeats = Counter(label: "heartbeats", factory: metrics)
        let modelVersion = Gauge(label: "model_version", factory: metrics)
        let freezePoint = Gauge(label: "freeze_point", factory: metrics)
        let access = NodeCurve.policy(configuration.curve, bound: configuration.control)
        try await withNodeSocketLoop(context: context, sockets: specs, curve: configuration.curve, logger: logger) { loop in
            let pub = loop.sockets[0]
            let control = loop.sockets[1]
            let dealer = configuration.registry == nil ? nil : loop.sockets[2]
            let metricsSocket = configuration.metrics == nil ? nil : loop.sockets[specs.count - 1]
            var lastMetrics = ContinuousClock.now
            var sampleCounts = dealer.map {
                SampleCountPoller(
                    client: RegistryClient(loop: loop, dealer: $0, replies: replies, timeout: .seconds(2)),
                    interval: configuration.sampleCountInterval, stamper: EnvelopeStamper(sender: configuration.name))
            }
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
                    case .broadcastFreezePointChange(let from, let to, let state, let reason):
                        logger.info(
                            "freeze point moved", metadata: ["freeze.point": "\(to)", "from": "\(from)", "reason": "\(reason)"])
                        let message = ThawMessage.freezePointChange(
                            FreezePointChange(
                                state: WireBridge.wire(state), fromFreezePoint: UInt32(from.index), reason: reason))
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
                                state: WireBridge.wire(state), coordinatorStartedAtMs: startedAtMs, counter: counter))
                        try await loop.send(try stamper.encodePublished(message), on: pub)
                        heartbeats.increment()
                    }
                }
                modelVersion.record(machine.deployment.modelVersion.number)
                freezePoint.record(machine.deployment.freezePoint.index)
            }

            try await runNodeEvents(
                loop: loop, tickEvery: .milliseconds(200), shutdown: shutdown, replySocket: dealer, replies: replies
            ) { event in
                switch event {
                case .tick:
                    if let counts = await sampleCounts?.pollIfDue(machine.deployment, logger: logger) {
                        for (user, count) in counts { machine.storedSamplesReported(user: user, count: count) }
                    }
                    try await carryOut(machine.tick(now: WallClock.now()))
                    if let metricsSocket, ContinuousClock.now - lastMetrics >= .seconds(2) {
                        lastMetrics = ContinuousClock.now
                        _ = try? loop.trySend(try stamper.encodePublished(.metrics(metrics.report())), on: metricsSocket)
                    }
                case .shutdown:
                    logger.info("coordinator stopping")
                case .delivery(let delivery) where delivery.socket == control:
                    // A ROUTER delivery is [routing id, message…]; without a message there is nobody to answer.
                    guard delivery.frames.count >= 2 else {
                        refusals.refuse(
                            on: "control", reason: InputViolation.Reason.frameLayout.rawValue,
                            detail: "\(delivery.frames.count) frames: no message after the routing id")
                        return true
                    }
                    let routingID = delivery.frames[0]
                    let reply: ThawMessage
                    do {
                        let request = try WireCodec.decode(WireBridge.bytes(delivery.frames.dropFirst()))
                        if let refusal = access?.checkControl(from: delivery.userID) {
                            refusals.refuse(on: "control", reason: InputViolation.Reason.forbidden.rawValue, detail: "\(refusal)")
                            let refused = ThawMessage.errorReply(ErrorReply(code: .forbidden, message: "forbidden: \(refusal)"))
                            try await loop.send([routingID] + (try stamper.encode(refused)), on: control)
                            return true
                        }
                        let (actions, answer) = try command(request.message, machine: &machine, startedAtMs: startedAtMs)
                        try await carryOut(actions)
                        reply = answer
                        commands.increment()
                    } catch let error as CoordinatorError {
                        refusals.refuse(
                            on: "control", reason: InputViolation.Reason.rejectedCommand.rawValue, detail: "\(error)")
                        reply = .errorReply(ErrorReply(code: .malformed, message: "\(error)"))
                    } catch let error as InputViolation {
                        refusals.refuse(on: "control", error)
                        reply = .errorReply(ErrorReply(code: .unsupported, message: "\(error)"))
                    } catch let error as WireError {
                        refusals.refuse(on: "control", error)
                        reply = .errorReply(ErrorReply(code: .malformed, message: "\(error)"))
                    } catch {
                        logger.error("could not carry out a control request", metadata: ["error": "\(error)"])
                        reply = .errorReply(ErrorReply(code: .internal, message: "\(error)"))
                    }
                    try await loop.send([routingID] + (try stamper.encode(reply)), on: control)
                case .delivery:
                    break
                }
                return true
            }
        }
    }

    /// Applies one control command to `machine` and returns what to carry out and the reply (the state
    /// after it). Synchronous on purpose: the actions are carried out after the `inout` access to the
    /// machine has ended, because the glue that sends them reads the machine too (an `inout` access held
    /// across an `await` while a closure reads the same variable is an exclusivity violation, which traps).
    private func command(
        _ request: ThawMessage, machine: inout CoordinatorStateMachine, startedAtMs: UInt64
    ) throws -> (actions: [CoordinatorAction], reply: ThawMessage) {
        let actions: [CoordinatorAction]
        switch request {
        case .modelAnnounce(let announce):
            actions = try machine.publishModel(
                version: ModelVersion(announce.state.modelVersion), hash: announce.state.modelHash)
        case .freezePointChange(let change):
            actions = try machine.moveFreezePoint(to: FreezePoint(Int(change.state.freezePoint)), now: WallClock.now())
        case .invalidation(let invalidation):
            actions = machine.invalidate(
                user: invalidation.userID.map(UserID.init), sampleIds: invalidation.sampleIDs,
                reason: InvalidationReason(rawValue: invalidation.reason) ?? .operatorRequest)
        case .heartbeat:
            actions = []
        default:
            throw InputViolation(.unexpectedKind, "the coordinator does not handle \(request.kind)")
        }
        let reply = ThawMessage.heartbeat(
            Heartbeat(
                state: WireBridge.wire(machine.deployment), coordinatorStartedAtMs: startedAtMs,
                counter: machine.heartbeatCounter))
        return (actions, reply)
    }
}

/// Asks the registry for stored-sample counts under the current stamps, at most once per `interval`.
struct SampleCountPoller {
    let client: RegistryClient
    let interval: Duration
    var stamper: EnvelopeStamper
    var lastPoll: ContinuousClock.Instant?

    /// The counts when a poll was due and answered for exactly `deployment`'s stamps; nil otherwise
    /// (not due, no answer in time, or an answer about stamps that are no longer current).
    mutating func pollIfDue(_ deployment: DeploymentState, logger: Logger) async -> [UserID: Int]? {
        let now = ContinuousClock.now
        if let lastPoll, now - lastPoll < interval { return nil }
        lastPoll = now
        let request = SampleCountRequest(
            modelVersion: deployment.modelVersion.number, freezePoint: UInt32(deployment.freezePoint.index),
            hyperHash: deployment.hyperParameterHash)
        do {
            let reply = try await client.request(.sampleCountRequest(request), stamper: &stamper) {
                if case .sampleCounts(let counts) = $0 {
                    counts.modelVersion == request.modelVersion && counts.freezePoint == request.freezePoint
                        && counts.hyperHash == request.hyperHash
                } else {
                    false
                }
            }
            guard case .sampleCounts(let counts) = reply else { return nil }
            return Dictionary(uniqueKeysWithValues: counts.counts.map { (UserID($0.key), Int(clamping: $0.value)) })
        } catch {
            logger.debug("no stored-sample counts from the registry", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
