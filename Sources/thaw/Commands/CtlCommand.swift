import ArgumentParser
import Foundation
import ThawModel
import ThawNN
import ThawNodes
import ThawTopology
import ThawZMQ

/// `thaw ctl …`: change or read the coordinator's deployment state.
struct CtlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ctl", abstract: "Control the coordinator: status, freeze K, publish MODEL, invalidate IDS.",
        subcommands: [Status.self, Freeze.self, Publish.self, Invalidate.self, Audit.self])

    struct Target: ParsableArguments {
        @Option(help: "The coordinator's control endpoint (default: from the topology).")
        var control: String?
        @Option(help: "Topology YAML file (default: the embedded local topology).")
        var topology: String?

        func client() throws -> ControlClient {
            if let control { return ControlClient(endpoint: Endpoint(control)) }
            let loaded = try topology.map { try Topology.load(path: $0) } ?? Topology.embedded()
            guard let address = loaded.instances(of: .coordinator).first?.endpoints["control"] else {
                throw ValidationError("the topology has no coordinator control endpoint")
            }
            return ControlClient(endpoint: Endpoint(address.description))
        }
    }

    static func show(_ state: DeploymentState) {
        print(
            "model v\(state.modelVersion.number) \(state.modelHash.prefix(16)) freeze k=\(state.freezePoint.index) "
                + "hyper \(state.hyperParameterHash.prefix(16)) epoch \(state.epoch)")
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "Print the deployment state.")
        @OptionGroup var target: Target
        func run() async throws { CtlCommand.show(try await target.client().send(.status)) }
    }

    struct Freeze: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "freeze", abstract: "Move the freeze point to K.")
        @OptionGroup var target: Target
        @Argument(help: "The new freeze point (first trainable layer).") var k: Int
        func validate() throws { guard k >= 1 else { throw ValidationError("K must be at least 1") } }
        func run() async throws { CtlCommand.show(try await target.client().send(.freeze(k))) }
    }

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "publish",
            abstract: "Announce a new base model (its file must also be given to the registry with --base-model).")
        @OptionGroup var target: Target
        @Argument(help: "The model checkpoint file.") var model: String
        func run() async throws {
            let contents = try ModelCheckpoint.load(from: model)
            let hash = ContentHash.model(architecture: contents.architecture, parameters: contents.parameters).hex
            CtlCommand.show(try await target.client().send(.publish(version: contents.version.number, hash: hash)))
        }
    }

    struct Invalidate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "invalidate", abstract: "Tell devices to forget samples (for example, wrong labels).")
        @OptionGroup var target: Target
        @Option(help: "Only this user's samples.") var user: String?
        @Option(help: "Why.") var reason: String = "mislabelled"
        @Argument(help: "Sample ids.") var ids: [UInt64]
        func run() async throws {
            CtlCommand.show(try await target.client().send(.invalidate(user: user, sampleIDs: ids, reason: reason)))
        }
    }

    struct Audit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit",
            abstract: "Check a registry database for lost or doubly stored batches; print it as JSON.")
        @Option(help: "The registry's SQLite file (safe to read while the registry runs).") var database: String
        func run() async throws {
            let store = try RegistryStore(path: database)
            defer { try? store.close() }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(try store.audit()), as: UTF8.self))
        }
    }
}
