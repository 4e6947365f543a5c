import ArgumentParser

/// The one `thaw` binary: a subcommand per role and tool.
@main
struct Thaw: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thaw",
        abstract: "Personalise deep models for mobile users: frozen backbone on the phone, heads trained in the cloud.",
        subcommands: [
            UpCommand.self, CoordinatorCommand.self, RegistryCommand.self, WorkerCommand.self, DeviceCommand.self,
            MonitorCommand.self, FedAvgCommand.self, CtlCommand.self, PretrainCommand.self, PersonalizeCommand.self,
            TopologyCommand.self, KeysCommand.self, BenchCommand.self, FuzzCommand.self,
        ]
    )
}
