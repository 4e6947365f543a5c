import ArgumentParser

/// The one `thaw` binary: a subcommand per role and tool.
@main
struct Thaw: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thaw",
        abstract: "Personalise deep models for mobile users: frozen backbone on the phone, heads trained in the cloud.",
        subcommands: [PretrainCommand.self, PersonalizeCommand.self, BenchCommand.self]
    )
}
