import ApusAPI
import ApusClient
import ArgumentParser

/// The lifecycle actions share one shape: a VM argument, the daemon options, and the VM's new state as output.
protocol ActionCommand: ParsableCommand {
    static var operation: VMOperation { get }
    var daemon: DaemonOptions { get }
    var vm: String { get }
}

extension ActionCommand {
    func run() throws {
        let info = try talkingToDaemon { try daemon.client.perform(Self.operation, on: vm) }
        printOut(daemon.json ? VMTable.json(info) : "\(info.definition.name): \(info.state.rawValue)\n")
    }
}

struct StartCommand: ActionCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Boot an inactive VM.")
    static let operation = VMOperation.start
    @OptionGroup var daemon: DaemonOptions
    @Argument(help: "The VM's name or id.") var vm: String
}

struct PauseCommand: ActionCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause", abstract: "Stop an active VM's vCPUs; its memory stays resident.")
    static let operation = VMOperation.pause
    @OptionGroup var daemon: DaemonOptions
    @Argument(help: "The VM's name or id.") var vm: String
}

struct ResumeCommand: ActionCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Continue a paused VM, or restore a suspended one from disk.")
    static let operation = VMOperation.resume
    @OptionGroup var daemon: DaemonOptions
    @Argument(help: "The VM's name or id.") var vm: String
}

struct SuspendCommand: ActionCommand {
    static let configuration = CommandConfiguration(
        commandName: "suspend",
        abstract: "Write an active or paused VM's complete state and memory to disk and release it.")
    static let operation = VMOperation.suspend
    @OptionGroup var daemon: DaemonOptions
    @Argument(help: "The VM's name or id.") var vm: String
}

struct StopCommand: ActionCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Force a VM off (a suspended VM's saved state is discarded); it becomes inactive.")
    static let operation = VMOperation.stop
    @OptionGroup var daemon: DaemonOptions
    @Argument(help: "The VM's name or id.") var vm: String
}

struct RebootCommand: ActionCommand {
    static let configuration = CommandConfiguration(
        commandName: "reboot", abstract: "Reset an active or paused VM and boot it again.")
    static let operation = VMOperation.reboot
    @OptionGroup var daemon: DaemonOptions
    @Argument(help: "The VM's name or id.") var vm: String
}
