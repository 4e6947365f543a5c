import ArgumentParser

/// `thaw bench`: throughput measurements (each subcommand compares against a peer in the same run).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Benchmarks.", subcommands: [BenchTrainCommand.self])
}
