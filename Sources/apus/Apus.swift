import ArgumentParser

@main
struct Apus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apus",
        abstract: "Run and manage virtual machines on KVM or on Apus's software CPU.",
        discussion: """
            With no subcommand, `apus` runs the built-in demo guest (the same as `apus run`).

            Exit status of `apus run`: the guest's result code (0 on a clean halt or power-off), 125 when Apus itself \
            could not run the machine or the guest crashed, 130 when interrupted.

            `apus vm ...` drives VMs held by the apusd daemon (see `apus vm --help`); it exits 1 with a one-line \
            message when the daemon refuses or cannot be reached.
            """,
        subcommands: [RunCommand.self, VMCommand.self],
        defaultSubcommand: RunCommand.self)
}
