import ApusAPI
import ApusClient
import ArgumentParser
import Foundation

struct VMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "Manage VMs held by apusd: define, clone, start, pause, resume, suspend, stop, reboot, undefine.",
        discussion: """
            These commands talk to a running apusd over its Unix socket (--socket, or $APUS_SOCKET, default \
            /run/apus/apusd.sock). A VM is named by its name or its id. States: inactive (defined, not running), \
            active, paused (vCPUs stopped, memory resident), suspended (saved to disk, resources released).

            Example:
              apusd --socket /tmp/apus.sock --state-dir /tmp/apus-state &
              export APUS_SOCKET=/tmp/apus.sock
              apus vm define demo --guest counter
              apus vm start demo && apus vm pause demo && apus vm resume demo
              apus vm suspend demo        # to disk; survives an apusd restart
              apus vm resume demo && apus vm console demo     # Ctrl-] detaches
              apus vm stop demo && apus vm undefine demo
            """,
        subcommands: [
            DefineCommand.self, CloneCommand.self, ListCommand.self, ShowCommand.self,
            StartCommand.self, PauseCommand.self, ResumeCommand.self, SuspendCommand.self, StopCommand.self,
            RebootCommand.self, UndefineCommand.self, ConsoleCommand.self, EventsCommand.self,
        ])
}

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List every VM with its state.")
    @OptionGroup var daemon: DaemonOptions

    func run() throws {
        let vms = try talkingToDaemon { try daemon.client.list() }
        printOut(daemon.json ? VMTable.json(vms) : VMTable.list(vms))
    }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Show one VM in detail.")
    @OptionGroup var daemon: DaemonOptions
    @Argument(help: "The VM's name or id.") var vm: String

    func run() throws {
        let info = try talkingToDaemon { try daemon.client.show(vm) }
        printOut(daemon.json ? VMTable.json(info) : VMTable.show(info))
    }
}

struct UndefineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undefine", abstract: "Forget an inactive VM and delete its files from the state directory.")
    @OptionGroup var daemon: DaemonOptions
    @Argument(help: "The VM's name or id.") var vm: String

    func run() throws {
        let info = try talkingToDaemon { try daemon.client.undefine(vm) }
        printOut(daemon.json ? VMTable.json(info) : "undefined \(info.definition.name) (\(info.id))\n")
    }
}
