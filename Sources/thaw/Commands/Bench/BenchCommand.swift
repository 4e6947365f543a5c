import ArgumentParser

/// `thaw bench …`: measurements that compare Thaw with a reference implementation in the same run.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run benchmarks against reference implementations.",
        subcommands: [
            BenchTransportCommand.self, BenchTransportPeerCommand.self, BenchTrainCommand.self, BenchSystemCommand.self,
            BenchFreezeMoveCommand.self, BenchCompareCommand.self, BenchRegistryCommand.self,
            BenchIncrementalCommand.self, BenchHeadDeltaCommand.self, BenchNoiseCommand.self,
        ]
    )
}
