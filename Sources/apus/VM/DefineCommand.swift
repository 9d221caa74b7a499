import ApusAPI
import ApusClient
import ApusVMM
import ArgumentParser
import Foundation

struct DefineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "define",
        abstract: "Define a new VM (inactive until started).",
        discussion: """
            Give exactly one boot source: --guest (a built-in guest, see `apus run --list-guests`), --image (a guest \
            file), or --kernel (a Linux kernel, with optional --initrd and --cmdline); --disk PATH[,readonly] \
            (repeatable; the first is /dev/vda) attaches a raw or qcow2 image as a virtio-blk disk. Files must lie \
            inside one of apusd's image roots (apusd --image-root, default <state-dir>/images). Or pass the whole \
            definition as JSON with --file (use - for standard input), in the API's format:

              {"name": "demo", "memoryMiB": 64, "vcpus": 1, "backend": "auto",
               "boot": {"guest": "counter"}, "disks": [{"path": "/srv/images/root.qcow2", "readOnly": false}]}

            Relative paths are made absolute here, since apusd runs elsewhere.
            """)

    @OptionGroup var daemon: DaemonOptions
    @Argument(help: "The VM's name: letters, digits, '-', '_' and '.'.") var name: String?
    @Option(help: "A built-in guest to boot.") var guest: String?
    @Option(help: "A guest image file to boot.") var image: String?
    @Option(help: "A Linux kernel (vmlinux or bzImage) to boot.") var kernel: String?
    @Option(help: "An initrd for --kernel.") var initrd: String?
    @Option(help: "The kernel command line for --kernel.") var cmdline: String?
    @Option(help: "Guest memory in MiB.") var memory: Int = VMDefinition.defaultMemoryMiB
    @Option(help: "Number of vCPUs, 1-64 (vCPU 0 boots, the others wait for the guest to start them; the software CPU runs 1 so far).")
    var vcpus: Int = 1
    @Option(help: "auto (KVM when usable, else the software CPU), kvm or soft.") var backend: String = "auto"
    @Option(help: "A disk image (raw or qcow2) as PATH[,readonly]; repeat for more disks (the first is /dev/vda).")
    var disk: [String] = []
    @Option(help: "Read the definition as JSON from this file (- for standard input).") var file: String?

    func validate() throws {
        let sources = [guest, image, kernel].compactMap { $0 }.count
        if file != nil {
            guard sources == 0, name == nil, disk.isEmpty else {
                throw ValidationError("--file replaces the name, the boot options and the disks")
            }
        } else {
            guard name != nil else { throw ValidationError("give the VM a name (or use --file)") }
            guard sources == 1 else { throw ValidationError("give exactly one of --guest, --image or --kernel") }
            guard kernel != nil || (initrd == nil && cmdline == nil) else {
                throw ValidationError("--initrd and --cmdline need --kernel")
            }
        }
    }

    func run() throws {
        let definition = try file.map(readDefinition) ?? VMDefinition(
            name: name ?? "", memoryMiB: memory, vcpus: vcpus, backend: backend, boot: bootSpec(), disks: try disks())
        let info = try talkingToDaemon { try daemon.client.define(definition) }
        printOut(daemon.json ? VMTable.json(info) : "defined \(info.definition.name) (\(info.id))\n")
    }

    private func bootSpec() -> BootSpec {
        if let guest { return .guest(guest) }
        if let image { return .image(path: absolute(image)) }
        return .linux(kernel: absolute(kernel ?? ""), initrd: initrd.map(absolute), commandLine: cmdline)
    }

    /// `PATH[,readonly]` as `apus run --disk` takes it.
    private func disks() throws -> [DiskSpec] {
        try disk.map { argument in
            let attachment: DiskAttachment
            do { attachment = try DiskAttachment(argument: argument) } catch { throw ValidationError("--disk \(argument): \(error)") }
            return DiskSpec(path: absolute(attachment.path), readOnly: attachment.readOnly)
        }
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    private func readDefinition(_ path: String) throws -> VMDefinition {
        let data: Data?
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            data = FileManager.default.contents(atPath: path)
        }
        guard let data else { throw ValidationError("cannot read \(path)") }
        do {
            return try JSONDecoder().decode(VMDefinition.self, from: data)
        } catch {
            throw ValidationError("\(path) is not a VM definition: \(error)")
        }
    }
}
