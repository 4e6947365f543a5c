import ArgumentParser
import Foundation
import ThawLauncher
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
        @Option(help: "Folder with the ctl key and the coordinator's public key (default: the topology's, else thaw-out/keys).")
        var keys: String?

        func client() throws -> ControlClient {
            let loaded = try topology.map { try Topology.load(path: $0) } ?? Topology.embedded()
            let coordinator = loaded.instances(of: .coordinator).first
            let endpoint: Endpoint
            if let control {
                endpoint = Endpoint(control)
            } else {
                guard let address = coordinator?.endpoints["control"] else {
                    throw ValidationError("the topology has no coordinator control endpoint")
                }
                endpoint = Endpoint(address.description)
            }
            guard endpoint.transport == "tcp", loaded.security.curve,
                var curve = try loaded.curve(keyName: "ctl", binds: false, keysDirectory: keys)
            else { return ControlClient(endpoint: endpoint) }
            // The operator key is `ctl`; it trusts the coordinator's key, also on an endpoint given by hand.
            if curve.serverKeyFiles[endpoint] == nil, let coordinator {
                curve.serverKeyFiles[endpoint] = KeyFile.publicPath(
                    loaded.keysDirectory(override: keys), coordinator.spec.name)
            }
            return ControlClient(endpoint: endpoint, curve: curve)
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
            abstract: "Upload a new base model to the registry, then have the coordinator announce it.")
        @OptionGroup var target: Target
        @Option(help: "The registry's router endpoint (default: from the topology).") var registry: String?
        @Argument(help: "The model checkpoint file (its version must be newer than the deployed one).") var model: String
        func run() async throws {
            let endpoint: String
            if let registry {
                endpoint = registry
            } else {
                let loaded = try target.topology.map { try Topology.load(path: $0) } ?? Topology.embedded()
                guard let address = loaded.instances(of: .registry).first?.endpoints["router"] else {
                    throw ValidationError("the topology has no registry router endpoint; pass --registry")
                }
                endpoint = address.description
            }
            let publisher = ModelPublisher(registry: Endpoint(endpoint), coordinator: try target.client())
            CtlCommand.show(try await publisher.publish(checkpointAt: model))
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
            abstract:
                "Check a registry database for lost, doubly stored, conflicting or inconsistent batches; print it as JSON.")
        @Option(
            help:
                "The registry's SQLite file or postgres:// URL (safe to read while registries run; one snapshot).")
        var database: String
        @Flag(help: "Exit with status 1 unless the audit is clean (no untrained, duplicate, conflicting or inconsistent batch).")
        var strict = false
        func run() async throws {
            let store = try RegistryBackends.open(database)
            defer { try? store.close() }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let audit = try store.audit()
            print(String(decoding: try encoder.encode(audit), as: UTF8.self))
            if strict && !audit.isClean { throw ExitCode(1) }
        }
    }
}
