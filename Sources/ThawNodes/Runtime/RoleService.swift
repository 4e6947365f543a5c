import Logging
import ServiceLifecycle
import UnixSignals

/// One role as a swift-service-lifecycle `Service`: the same start, signals and bounded graceful stop
/// for every role, instead of each node installing its own signal handlers.
///
/// A node keeps its `run(shutdown:)` shape: the service hands it a ``ShutdownSignal`` that fires when
/// the group shuts down gracefully (SIGTERM or SIGINT, or another service ending), so the node stops
/// taking input, finishes or abandons in-flight work safely, persists and returns. If it has not returned
/// within the group's deadline, the group cancels it.
public struct RoleService: Service {
    let body: @Sendable (ShutdownSignal) async throws -> Void

    public init(_ body: @escaping @Sendable (ShutdownSignal) async throws -> Void) {
        self.body = body
    }

    public func run() async throws {
        let shutdown = ShutdownSignal(signals: [])
        try await withGracefulShutdownHandler {
            try await body(shutdown)
        } onGracefulShutdown: {
            shutdown.trigger()
        }
    }
}

extension RoleService {
    /// How long a role may take to stop after SIGTERM before it is cancelled. Launchers wait a little
    /// longer than this before they SIGKILL (see `TopologyLauncher`), so a stuck node is cancelled by
    /// itself first.
    public static let gracefulStopDeadline: Duration = .seconds(8)

    /// Runs `body` as the only service of a `ServiceGroup` that turns SIGTERM and SIGINT into a graceful
    /// shutdown bounded by `deadline`; returns when the role returned, rethrows what it threw.
    public static func runGroup(
        logger: Logger, deadline: Duration = gracefulStopDeadline,
        _ body: @escaping @Sendable (ShutdownSignal) async throws -> Void
    ) async throws {
        var configuration = ServiceGroupConfiguration(
            services: [
                .init(
                    service: RoleService(body), successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "role")
            ],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = deadline
        try await ServiceGroup(configuration: configuration).run()
    }
}
