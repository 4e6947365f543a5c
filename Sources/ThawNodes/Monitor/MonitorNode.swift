import Foundation
import Logging
import ThawWire
import ThawZMQ

/// The monitor process: subscribes to the coordinator's broadcasts and to every role's metrics, and
/// shows them to a person as a table every `interval`, or as JSON lines for machines.
public struct MonitorNode: Sendable {
    public struct Configuration: Sendable {
        public var name: String
        public var metrics: Endpoint
        public var coordinator: Endpoint?
        public var interval: Duration
        public var json: Bool
        /// CURVE on tcp endpoints (docs/SECURITY.md); nil: plain sockets.
        public var curve: NodeCurve? = nil

        public init(name: String, metrics: Endpoint, coordinator: Endpoint?, interval: Duration, json: Bool) {
            self.name = name
            self.metrics = metrics
            self.coordinator = coordinator
            self.interval = interval
            self.json = json
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
        var specs = [SocketSpec(kind: .sub, bind: [configuration.metrics], options: [.subscribe(""), small])]
        if let coordinator = configuration.coordinator {
            specs.append(SocketSpec(kind: .sub, connect: [coordinator], options: [.subscribe(""), small]))
        }
        let metrics = NodeMetrics(node: configuration.name, role: "monitor")
        let refusals = InputRefusals(logger: logger, metrics: metrics)
        try await withNodeSocketLoop(context: context, sockets: specs, curve: configuration.curve, logger: logger) { loop in
            let metricsSocket = loop.sockets[0]
            ReadyLine(
                role: "monitor", node: configuration.name,
                endpoints: ["metrics": loop.boundEndpoints(of: metricsSocket).first?.rawValue ?? ""]
            ).emit()
            var board = MonitorBoard()
            var lastPrint = ContinuousClock.now
            var lastRefused: UInt64 = 0
            try await runNodeEvents(loop: loop, tickEvery: .milliseconds(250), shutdown: shutdown) { event in
                switch event {
                case .delivery(let delivery):
                    let decoded: DecodedMessage
                    do {
                        decoded = try WireCodec.decodePublished(delivery.frames.map(\.bytes))
                    } catch {
                        refusals.refuse(on: delivery.socket == metricsSocket ? "metrics" : "sub", error)
                        return true
                    }
                    board.record(decoded.message)
                    if configuration.json, let line = MonitorBoard.jsonLine(decoded.message) {
                        FileHandle.standardOutput.write(Data((line + "\n").utf8))
                    }
                case .tick:
                    // The monitor's own refusals are shown like any node's (role "monitor").
                    let own = metrics.report()
                    board.record(.metrics(own))
                    if configuration.json, refusals.total != lastRefused,
                        let line = MonitorBoard.jsonLine(.metrics(own))
                    {
                        lastRefused = refusals.total
                        FileHandle.standardOutput.write(Data((line + "\n").utf8))
                    }
                    if !configuration.json, ContinuousClock.now - lastPrint >= configuration.interval {
                        lastPrint = ContinuousClock.now
                        FileHandle.standardOutput.write(Data(board.render().utf8))
                    }
                case .shutdown:
                    break
                }
                return true
            }
        }
    }
}
