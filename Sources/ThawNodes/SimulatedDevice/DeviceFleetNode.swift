import Foundation
import Logging
import ThawData
import ThawModel
import ThawNN
import ThawWire
import ThawZMQ

/// A device process: simulates `count` phones, each owned by one user (a writer of the test set).
///
/// One task drives every phone, event-driven: each phone is due once per tick (a priority queue of due
/// times); when due it lets its user produce samples (some annotated), flushes batches to the workers
/// (PUSH, fair-queued over every worker endpoint) and pulls its head from the registry (DEALER) with
/// the hash it has. Work runs in short slices; between slices every broadcast (SUB) and registry reply
/// that arrived is handled first. Backbone passes are batched across phones; registry requests are
/// many in flight at once. Compute and radio use are charged to each phone's battery.
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
        /// More registries over the same PostgreSQL database (docs/DEPLOYMENT.md): requests go round-robin
        /// to whichever are connected, so one that dies stops getting them.
        public var registryReplicas: [Endpoint] = []
        /// The registries' `announce` PUB endpoints (topic `heads`): phones pull a head when it changed.
        /// Empty: no announcer, phones pull every `phone.headPullInterval` as before.
        public var announce: [Endpoint] = []
        /// With announcements, the periodic pull is only a safety net for a missed one.
        public var safetyNetPullInterval: Duration = .seconds(30)
        /// Equal backbone outputs of different phones (the phones of one writer walk the same samples)
        /// are computed and held once per process (``ActivationInterner``). On unless the environment
        /// sets `THAW_FLEET_SHARING=off` (to measure the simulator without it, side by side).
        public var shareEqualActivations = ProcessInfo.processInfo.environment["THAW_FLEET_SHARING"] != "off"

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
        if !FleetAllocator.configure() { logger.warning("the allocator's mmap threshold could not be set") }
        try FileManager.default.createDirectory(
            atPath: configuration.stateDirectory, withIntermediateDirectories: true)
        let context = try ZMQContext()
        defer { try? context.shutdown() }
        var specs = [
            SocketSpec(
                kind: .dealer, connect: [configuration.registry] + configuration.registryReplicas,
                // With replicas, only to registries that are connected (ZMQ_IMMEDIATE): a dead one's pipe
                // would otherwise queue its share of the requests until it comes back.
                options: [.maxMessageSize(SocketLimits.dataFrame)]
                    + (configuration.registryReplicas.isEmpty ? [] : [.immediate(true)])),
            SocketSpec(
                kind: .sub, connect: [configuration.coordinator],
                options: Topic.allCases.filter { $0 != .metrics }.map { .subscribe($0.rawValue) }
                    + [.maxMessageSize(SocketLimits.smallFrame)]),
        ]
        if let metrics = configuration.metrics {
            specs.append(SocketSpec(kind: .pub, connect: [metrics], options: [.sendHighWaterMark(1000)]))
        }
        let announceIndex = specs.count
        if !configuration.announce.isEmpty {
            specs.append(
                SocketSpec(
                    kind: .sub, connect: configuration.announce,
                    options: [.subscribe(Topic.heads.rawValue), .maxMessageSize(SocketLimits.smallFrame)]))
        }
        // One PUSH per worker, so a user's batches go to the user's worker (``WorkerAffinity``). A batch
        // that cannot go out at once (that worker's queue full, or the worker down: `immediate` keeps
        // messages off pipes to absent peers) is dropped, not queued: it stays in the phone's outbox and
        // its re-send goes to the user's next worker, so a dead worker's users move on and a slow or dead
        // worker never stalls this process's head pulls behind it; memory stays bounded by the outboxes.
        let pushIndices = configuration.workers.indices.map { specs.count + $0 }
        for worker in configuration.workers {
            specs.append(
                SocketSpec(
                    kind: .push, connect: [worker],
                    options: [.sendHighWaterMark(16), .immediate(true), .linger(.seconds(2))], whenBlocked: .drop))
        }
        // Only base-model replies go through the blocking `RegistryClient` (rare, at a model change);
        // every other registry reply is an event for the fleet, matched to the phone that asked.
        let replies = DeliveryQueue()
        let inbox = FleetInbox()
        let store = try DeviceFleetStore(path: DeviceFleetStore.path(stateDirectory: configuration.stateDirectory))
        try await withNodeSocketLoop(context: context, sockets: specs, curve: configuration.curve, logger: logger) { loop in
            let (dealer, sub) = (loop.sockets[0], loop.sockets[1])
            let pushes = pushIndices.map { loop.sockets[$0] }
            ReadyLine(role: "device", node: configuration.name, endpoints: [:]).emit()
            let metrics = NodeMetrics(node: configuration.name, role: "device-fleet")
            let refusals = InputRefusals(logger: logger, metrics: metrics)
            var fleet = DeviceFleet(
                configuration: configuration, dataset: dataset, logger: logger, refusals: refusals,
                registry: RegistryClient(loop: loop, dealer: dealer, replies: replies, refusals: refusals), loop: loop,
                pushes: pushes, metrics: configuration.metrics != nil ? loop.sockets[2] : nil, store: store, inbox: inbox,
                nodeMetrics: metrics)
            let announce = configuration.announce.isEmpty ? nil : loop.sockets[announceIndex]
            // Registry replies are copied out and decoded on a thread of their own (a head is 6.4 MB at
            // freeze point 7, a few ms each, and the phones of a user pull it together), in their order:
            // a broadcast behind a burst of them in the socket loop's stream is then not held by their
            // decoding, only routed past them.
            let decoder = FleetCompute(label: "decode", cpu: fleet.cpu)
            let recent = fleet.recentTensors
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for try await delivery in loop.inbound {
                        if delivery.socket == sub || delivery.socket == announce {
                            let raw = delivery.frames.map(\.bytes)
                            do {
                                let (receivedAtMs, arrived) = (WallClock.nowMs(), ContinuousClock.now)
                                inbox.put(
                                    .broadcast(
                                        try WireCodec.decodePublished(raw), receivedAtMs: receivedAtMs, arrived: arrived))
                            } catch {
                                refusals.refuse(on: delivery.socket == sub ? "sub" : "announce", error)
                            }
                        } else if delivery.socket == dealer {
                            decoder.submit {
                                let raw = delivery.frames.map(\.bytes)
                                do {
                                    // A head equal to one just decoded (the phones of a user pull it
                                // together) shares that array instead of a fresh 6.4 MB copy.
                                var offered: [Float]?
                                let decoded = try WireCodec.decode(raw) { frame in
                                    offered = recent.offer(frame)
                                    return offered
                                }
                                if case .headReply(let head) = decoded.message,
                                    let scalars = head.headParameters?.scalars
                                {
                                    let reused = offered.map { RecentTensors.sameStorage($0, scalars) } ?? false
                                    recent.keep(scalars, reused: reused)
                                }
                                    if case .baseModelReply = decoded.message {
                                        // The blocking base-model fetch's reply (one at a time, no order to keep).
                                        Task { await replies.push(delivery) }
                                    } else {
                                        inbox.put(.reply(decoded, bytes: raw.reduce(0) { $0 + $1.count }))
                                    }
                                } catch {
                                    refusals.refuse(on: "dealer", error)
                                }
                            }
                        }
                    }
                    // Replies still being decoded are handed over first.
                    await decoder.run {}
                    await replies.finish()
                    inbox.put(.closed)
                }
                group.addTask {
                    if await shutdown.wait() != nil { inbox.put(.shutdown) }
                }
                try await Self.runFleet(&fleet, inbox: inbox, tick: configuration.tick)
                // Bounded stop: no new work, in-flight work abandoned, one transaction saves what changed.
                await fleet.terminate()
                group.cancelAll()
            }
        }
    }

    /// A slice of phone work is at most this long, so a broadcast waits at most this for the fleet.
    static let slice: Duration = .milliseconds(4)

    /// The fleet's single task: control before work. Every event that arrived (broadcasts, registry
    /// replies, shutdown) is handled, then one short slice of phone work runs; when no phone is due the
    /// task sleeps until the next one is, or until an event arrives.
    static func runFleet(_ fleet: inout DeviceFleet, inbox: FleetInbox, tick: Duration) async throws {
        while true {
            var events = inbox.drain()[...]
            while let event = events.popFirst() {
                if !event.isControl {
                    // A broadcast that arrived meanwhile goes ahead of the rest of this drain.
                    let control = inbox.takeControl()
                    if !control.isEmpty {
                        events = control[...] + [event] + events
                        continue
                    }
                }
                let started = ContinuousClock.now
                let cpuStarted = FleetCPU.threadSeconds()
                defer {
                    fleet.noteBusy(event.kind, since: started, cpuStarted: cpuStarted)
                    fleet.cpu.book("task.\(event.kind)", seconds: FleetCPU.threadSeconds() - cpuStarted)
                }
                switch event {
                case .broadcast(let decoded, let receivedAtMs, let arrived):
                    fleet.broadcastArrival = (receivedAtMs, arrived)
                    try await fleet.observe(decoded.message, sentAtMs: decoded.metadata.sentAtUnixMs)
                case .reply(let decoded, let bytes):
                    try await fleet.replyArrived(decoded, bytes: bytes)
                case .committed(let error):
                    try await fleet.commitFinished(error: error)
                case .backboneDone(let result):
                    try await fleet.backboneDone(result)
                case .evaluated(let result):
                    fleet.evaluated(result)
                case .rebuilt(let result):
                    try await fleet.rebuilt(result)
                case .headChecked(let result):
                    try await fleet.headChecked(result)
                case .sent(let phone, let bytes):
                    fleet.sent(phone: phone, bytes: bytes)
                case .shutdown, .closed:
                    return
                }
            }
            let sliceStarted = ContinuousClock.now
            let cpuStarted = FleetCPU.threadSeconds()
            fleet.startCommitIfIdle()
            let next = try await fleet.workSlice(budget: slice)
            fleet.startCommitIfIdle()
            fleet.noteBusy("slice", since: sliceStarted, cpuStarted: cpuStarted)
            fleet.cpu.book("task.slice", seconds: FleetCPU.threadSeconds() - cpuStarted)
            let now = ContinuousClock.now
            if let next, next <= now {
                await Task.yield()
            } else {
                await inbox.wait(until: min(next ?? now + tick, now + .milliseconds(250)))
            }
        }
    }
}
