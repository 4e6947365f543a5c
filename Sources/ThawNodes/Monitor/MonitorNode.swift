import CoreMetrics
import Foundation
import Logging
import ThawWire
import ThawZMQ

/// The monitor process: shows the coordinator's broadcasts and every role's metrics to a person, as a
/// table every `interval`, or as JSON lines for machines.
///
/// Two ways to run (docs/MONITORING.md):
/// - **hub** (the topology's monitor node, started by `thaw up`): binds the metrics SUB every role
///   publishes to, subscribes to the coordinator, and — when it has a `watch` endpoint — forwards
///   everything on a PUB bound there, replaying the full state after every heartbeat;
/// - **attached** (`thaw monitor --attach`): connects a SUB to a hub's `watch` endpoint. Any number
///   may attach and detach at any time; nothing in the system waits for them.
public struct MonitorNode: Sendable {
    public struct Configuration: Sendable {
        public var name: String
        /// Hub: the metrics SUB to bind. Attached (``attached``): the hub's `watch` PUB to connect to.
        public var metrics: Endpoint
        public var coordinator: Endpoint?
        public var interval: Duration
        public var json: Bool
        /// CURVE on tcp endpoints (docs/SECURITY.md); nil: plain sockets.
        public var curve: NodeCurve? = nil
        /// Hub only: bind a PUB here that forwards everything this monitor receives, for attached monitors.
        public var watch: Endpoint? = nil
        /// Connect to a hub's `watch` PUB at ``metrics`` instead of binding the metrics SUB.
        public var attached = false
        /// Print nothing but the ready line (a monitor that only serves HTTP).
        public var quiet = false
        /// More entries for the ready line's `endpoints` (the dashboard's `http` URL).
        package var readyEndpoints: [String: String] = [:]
        /// Whether the node prints its ready line (not when it runs inside `thaw up` for the live status).
        package var emitsReadyLine = true
        /// Called on the node's event handler after every tick with the board (cheap: a copy-on-write
        /// value); the HTTP server (ThawDashboard) keeps the latest one.
        package var observer: (@Sendable (MonitorBoard) -> Void)? = nil

        public init(name: String, metrics: Endpoint, coordinator: Endpoint?, interval: Duration, json: Bool) {
            self.name = name
            self.metrics = metrics
            self.coordinator = coordinator
            self.interval = interval
            self.json = json
        }

        /// A monitor attached to the hub whose `watch` PUB is at `hub`.
        public static func attaching(name: String, hub: Endpoint, interval: Duration, json: Bool) -> Configuration {
            var configuration = Configuration(name: name, metrics: hub, coordinator: nil, interval: interval, json: json)
            configuration.attached = true
            return configuration
        }
    }

    public let configuration: Configuration
    public let logger: Logger

    public init(configuration: Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run(shutdown: ShutdownSignal) async throws {
        let context = try ZMQContext()
        defer { try? context.shutdown() }
        let small = SocketOption.maxMessageSize(SocketLimits.smallFrame)
        var specs: [SocketSpec]
        var watchIndex: Int?
        if configuration.attached {
            specs = [SocketSpec(kind: .sub, connect: [configuration.metrics], options: [.subscribe(""), small])]
        } else {
            specs = [SocketSpec(kind: .sub, bind: [configuration.metrics], options: [.subscribe(""), small])]
            if let coordinator = configuration.coordinator {
                specs.append(SocketSpec(kind: .sub, connect: [coordinator], options: [.subscribe(""), small]))
            }
            if let watch = configuration.watch {
                watchIndex = specs.count
                // A PUB drops at its high-water mark, so a slow or stuck attached monitor never holds the hub up.
                specs.append(
                    SocketSpec(kind: .pub, bind: [watch], options: [.sendHighWaterMark(10_000)], whenBlocked: .drop))
            }
        }
        let metrics = NodeMetrics(node: configuration.name, role: "monitor")
        let refusals = InputRefusals(logger: logger, metrics: metrics)
        let forwarded = Counter(label: "forwarded", factory: metrics)
        var machine = MonitorStateMachine(
            isHub: watchIndex != nil, json: configuration.json,
            intervalMs: UInt64(max(configuration.interval / .milliseconds(1), 100)))
        var stamper = EnvelopeStamper(sender: configuration.name)
        try await withNodeSocketLoop(context: context, sockets: specs, curve: configuration.curve, logger: logger) { loop in
            let first = loop.sockets[0]
            let watchSocket = watchIndex.map { loop.sockets[$0] }
            var endpoints = [(configuration.attached ? "attached" : "metrics"): loop.boundEndpoints(of: first).first?.rawValue ?? configuration.metrics.rawValue]
            if let watchSocket { endpoints["watch"] = loop.boundEndpoints(of: watchSocket).first?.rawValue ?? "" }
            endpoints.merge(configuration.readyEndpoints) { $1 }
            if configuration.emitsReadyLine {
                ReadyLine(role: "monitor", node: configuration.name, endpoints: endpoints).emit()
            }
            var lastOwnReport: UInt64 = 0
            func carryOut(_ actions: [MonitorStateMachine.Action]) {
                for action in actions {
                    switch action {
                    case .publish(let frames):
                        guard let watchSocket else { continue }
                        if (try? loop.trySend(frames, on: watchSocket)) == true { forwarded.increment() }
                    case .print(let text):
                        guard !configuration.quiet else { continue }
                        FileHandle.standardOutput.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
                    }
                }
            }
            try await runNodeEvents(loop: loop, tickEvery: .milliseconds(250), shutdown: shutdown) { event in
                switch event {
                case .delivery(let delivery):
                    let decoded: DecodedMessage
                    do {
                        decoded = try WireCodec.decodePublished(delivery.frames.map(\.bytes))
                    } catch {
                        refusals.refuse(on: delivery.socket == first ? (configuration.attached ? "watch" : "metrics") : "sub", error)
                        return true
                    }
                    carryOut(machine.received(decoded.message, frames: delivery.frames, nowMs: WallClock.nowMs()))
                case .tick:
                    let now = WallClock.nowMs()
                    let own = metrics.report(gauges: ["nodes_known": Double(machine.board.reports.count)])
                    var ownFrames: [Frame]?
                    if watchSocket != nil, now >= lastOwnReport + 2000 {
                        lastOwnReport = now
                        ownFrames = try? stamper.encodePublished(.metrics(own))
                    }
                    carryOut(machine.tick(nowMs: now, own: own, ownFrames: ownFrames))
                    configuration.observer?(machine.board)
                case .shutdown:
                    break
                }
                return true
            }
        }
    }
}
