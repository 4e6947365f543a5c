import ArgumentParser
import Foundation
import ThawTopology

/// `thaw topology …`: tools for topology files.
struct TopologyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology",
        abstract: "Inspect and check topology files.",
        subcommands: [Validate.self]
    )

    /// `thaw topology validate FILE`: load and validate a topology; print a summary or the diagnostic.
    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "validate",
            abstract: "Check a topology file and summarise its nodes.",
            discussion: "Exits 0 and prints 'ok: …' when the file is valid; otherwise prints 'FILE: key.path: reason' and exits 1."
        )

        @Argument(help: "The topology YAML file.")
        var file: String

        @Option(name: .customLong("workers"), help: "Validate as if every worker node ran this many processes.")
        var workers: Int?

        func run() throws {
            do {
                var topology = try Topology.load(path: file)
                if let workers { topology = try topology.overridingWorkerCount(workers) }
                print(Self.summary(of: topology))
            } catch {
                var standardError = DiagnosticStream()
                print(error.description, to: &standardError)
                throw ExitCode.failure
            }
        }

        /// `ok: 6 nodes (1 coordinator, 1 registry, 2 workers, 1 device process simulating 8 devices, 1 monitor)`.
        static func summary(of topology: Topology) -> String {
            let instances = topology.instances
            var parts: [String] = []
            for role in Role.allCases {
                let count = instances.filter { $0.role == role }.count
                guard count > 0 else { continue }
                if role == .device {
                    let devices = topology.nodes.filter { $0.role == .device }.map(\.count).reduce(0, +)
                    let processes = count == 1 ? "1 device process" : "\(count) device processes"
                    parts.append("\(processes) simulating \(devices) \(devices == 1 ? "device" : "devices")")
                } else {
                    parts.append("\(count) \(role)\(count == 1 ? "" : "s")")
                }
            }
            let noun = instances.count == 1 ? "node" : "nodes"
            return "ok: \(instances.count) \(noun) (\(parts.joined(separator: ", ")))"
        }
    }
}

/// Diagnostics go to stderr so `validate` output stays scriptable (stdout holds only the summary).
private struct DiagnosticStream: TextOutputStream {
    mutating func write(_ string: String) { FileHandle.standardError.write(Data(string.utf8)) }
}
