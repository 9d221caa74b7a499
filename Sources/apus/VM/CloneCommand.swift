import ApusAPI
import ApusClient
import ArgumentParser

struct CloneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clone",
        abstract: "Define a new VM as a copy-on-write clone of an inactive template VM.",
        discussion: """
            The clone gets the template's memory, vCPUs, backend and boot source. Each writable disk of the template \
            becomes a new qcow2 overlay in apusd's state directory whose backing file is the template's image (read \
            only); read-only disks are shared. While clones exist the template cannot be started with those disks \
            writable, have its disks changed or be undefined. Undefining a clone deletes its overlays.
            """)

    @OptionGroup var daemon: DaemonOptions
    @Argument(help: "The template VM's name or id.") var template: String
    @Argument(help: "The new VM's name.") var name: String

    func run() throws {
        let info = try talkingToDaemon { try daemon.client.clone(template, as: name) }
        printOut(daemon.json ? VMTable.json(info) : "cloned \(template) as \(info.definition.name) (\(info.id))\n")
    }
}
