import Foundation
import Logging
import ThawData
import ThawModel
import ThawNN
import ThawWire
import ThawZMQ

/// A device process: simulates `count` phones, each owned by one user (a writer of the test set).
///
/// One task drives every phone: each tick it lets the users produce samples (some annotated), runs
/// the backbone for annotated ones, flushes batches to the workers (PUSH, fair-queued over every
/// worker endpoint), pulls heads from the registry (DEALER) with the hash it has, and follows the
/// coordinator's broadcasts (SUB). Compute and radio use are charged to each phone's battery.
public struct DeviceFleetNode: Sendable {
    public struct Configuration: Sendable {
        public var name: String
        public var workers: [Endpoint]
        public var registry: Endpoint
        public var coordinator: Endpoint
        public var metrics: Endpoint?
        public var users: [UInt16]
        public var annotationShare: Double
        public var samplesPerTick: Int
        public var tick: Duration
        public var stateDirectory: String
        public var phone: PhoneSettings
        /// Print a `goal-reached` line once every phone swapped in this many heads after its stream ended.
        public var goalHeads: Int
        public var seed: UInt64
        /// CURVE on tcp endpoints (docs/SECURITY.md); nil: plain sockets.
        public var curve: NodeCurve? = nil

        public init(
            name: String, workers: [Endpoint], registry: Endpoint, coordinator: Endpoint, metrics: Endpoint?,
            users: [UInt16], annotationShare: Double, samplesPerTick: Int, tick: Duration, stateDirectory: String,
            phone: PhoneSettings, goalHeads: Int, seed: UInt64
        ) {
            self.name = name
            self.workers = workers
            self.registry = registry
            self.coordinator = coordinator
            self.metrics = metrics
            self.users = users
            self.annotationShare = annotationShare
            self.samplesPerTick = samplesPerTick
            self.tick = tick
            self.stateDirectory = stateDirectory
            self.phone = phone
            self.goalHeads = goalHeads
            self.seed = seed
        }
    }

    public let configuration: Configuration
    public let dataset: HandwritingDataset
    public let logger: Logger

    public init(configuration: Configuration, dataset: HandwritingDataset, logger: Logger) {
        self.configuration = configuration
        self.dataset = dataset
        self.logger = logger
    }

    public func run(shutdown: ShutdownSignal) async throws {
        try FileManager.default.createDirectory(
            atPath: configuration.stateDirectory, withIntermediateDirectories: true)
        let context = try ZMQContext()
        defer { try? context.shutdown() }
        var specs = [
            // A batch that cannot go out at once (every worker's queue full, or no worker connected:
            // `immediate` keeps messages off pipes to workers that are down) is dropped, not queued: it
            // stays in the phone's outbox and is re-sent with back-off, so a slow or dead worker pool
            // never stalls this process's head pulls behind it, and memory stays bounded by the outboxes.
            SocketSpec(
                kind: .push, connect: configuration.workers,
                options: [.sendHighWaterMark(16), .immediate(true), .linger(.seconds(2))], whenBlocked: .drop),
            SocketSpec(
                kind: .dealer, connect: [configuration.registry], options: [.maxMessageSize(SocketLimits.dataFrame)]),
            SocketSpec(
                kind: .sub, connect: [configuration.coordinator],
                options: Topic.allCases.filter { $0 != .metrics }.map { .subscribe($0.rawValue) }
                    + [.maxMessageSize(SocketLimits.smallFrame)]),
        ]
        if let metrics = configuration.metrics {
            specs.append(SocketSpec(kind: .pub, connect: [metrics], options: [.sendHighWaterMark(1000)]))
        }
        let replies = DeliveryQueue()
        try await withNodeSocketLoop(context: context, sockets: specs, curve: configuration.curve, logger: logger) { loop in
            let (push, dealer, sub) = (loop.sockets[0], loop.sockets[1], loop.sockets[2])
            ReadyLine(role: "device", node: configuration.name, endpoints: [:]).emit()
            let refusals = InputRefusals(logger: logger)
            var fleet = DeviceFleet(
                configuration: configuration, dataset: dataset, logger: logger, refusals: refusals,
                registry: RegistryClient(loop: loop, dealer: dealer, replies: replies, refusals: refusals), loop: loop,
                push: push, metrics: loop.sockets.count > 3 ? loop.sockets[3] : nil)
            try await runNodeEvents(
                loop: loop, tickEvery: configuration.tick, shutdown: shutdown, replySocket: dealer, replies: replies
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
                    try await fleet.observe(decoded.message, sentAtMs: decoded.metadata.sentAtUnixMs)
                case .delivery:
                    break
                case .tick:
                    try await fleet.tick()
                case .shutdown:
                    fleet.terminate()
                }
                return true
            }
        }
    }
}
