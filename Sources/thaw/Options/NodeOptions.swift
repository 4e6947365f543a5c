import ArgumentParser
import Foundation
import Logging
import ThawLauncher
import ThawNodes
import ThawTopology

/// Options every role command shares: where the topology is, which node of it this process is,
/// the base model file, where state goes, and how much to log.
struct NodeOptions: ParsableArguments {
    @Option(help: "Topology YAML file (default: the embedded local topology).")
    var topology: String?

    @Option(help: "The node (instance) name in the topology, e.g. worker-1.")
    var node: String

    @Option(
        help: """
            The base model checkpoint (written by `thaw pretrain` or `thaw up`; default \(Self.defaultBaseModel)). \
            Read by the coordinator, the registry and FedAvg roles only.
            """)
    var baseModel: String?

    @Option(help: "Folder for state files (coordinator state, device caches).")
    var stateDir: String = "thaw-out/state"

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    @Option(help: "Run every worker node with this many processes (as `thaw up --workers N` does).")
    var workers: Int?

    @Option(help: "Folder with CURVE key files and the allowlist (default: the topology's, else thaw-out/keys).")
    var keys: String?

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("unknown log level '\(logLevel)'")
        }
    }

    func loadTopology() throws -> Topology {
        let loaded = try topology.map { try Topology.load(path: $0) } ?? Topology.embedded()
        return try workers.map { try loaded.overridingWorkerCount($0) } ?? loaded
    }

    static let defaultBaseModel = "thaw-out/base-model.thaw"

    /// The base model file for a role that reads it: `--base-model`, else the default path.
    var baseModelPath: String { baseModel ?? Self.defaultBaseModel }

    /// The base model file for a role that may read it (a device: FedAvg phones do, Thaw phones do not):
    /// `--base-model`, else the default path if that file exists, else nil.
    var optionalBaseModelPath: String? {
        baseModel ?? (FileManager.default.fileExists(atPath: Self.defaultBaseModel) ? Self.defaultBaseModel : nil)
    }

    /// Settings for this node; `withBaseModel: false` for roles that never read the base model (monitor,
    /// worker), so they need no `--base-model` and no model file.
    func settings(withBaseModel: Bool = true) throws -> NodeSettings {
        var settings = try NodeSettings(
            topology: try loadTopology(), node: node, baseModelPath: withBaseModel ? baseModelPath : baseModel,
            stateDirectory: stateDir)
        settings.keysDirectory = keys
        return settings
    }

    func logger(role: String) -> Logger {
        // THAW_LOG_LEVEL lets `thaw up` (or a person) turn every node's logs up without editing commands.
        let level = ProcessInfo.processInfo.environment["THAW_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
        LogSetup.bootstrap(level: level ?? Logger.Level(rawValue: logLevel) ?? .info)
        var logger = Logger(label: "thaw.\(role)")
        logger[metadataKey: "node.name"] = "\(node)"
        logger[metadataKey: "node.role"] = "\(role)"
        return logger
    }
}

/// Logs go to stderr, so stdout carries only machine-readable lines (ready, progress, reports).
enum LogSetup {
    static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// Runs a node until it stops; one error line with the node's metadata and a non-zero exit on failure.
func runNode(_ logger: Logger, _ body: @escaping @Sendable (ShutdownSignal) async throws -> Void) async throws {
    // Launchers (`thaw up`, the test kit) set THAW_EXIT_WITH_PARENT=1 so that a node whose parent
    // died (a crashed launcher, a test process that ended) stops gracefully instead of lingering.
    if ProcessInfo.processInfo.environment["THAW_EXIT_WITH_PARENT"] == "1" {
        let parent = getppid()
        Task.detached {
            while getppid() == parent { try? await Task.sleep(for: .milliseconds(500)) }
            logger.warning("parent process is gone; stopping")
            kill(getpid(), SIGTERM)
        }
    }
    do {
        try await RoleService.runGroup(logger: logger, body)
    } catch {
        logger.error("node failed", metadata: ["error": "\(error)"])
        throw ExitCode.failure
    }
}
