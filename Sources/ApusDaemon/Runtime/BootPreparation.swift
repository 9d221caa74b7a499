import ApusAPI
import ApusGuests
import ApusCore
import ApusVMM

/// Turns a definition into something the VMM can build: checks it when it is defined or updated (names, sizes,
/// backend, built-in guest, files that must exist) and reads its files when it starts.
enum BootPreparation {
    /// Problems a definition has before anything runs; the message names the field.
    static func validate(_ definition: VMDefinition) throws {
        if let problem = VMDefinition.problem(withName: definition.name) { throw DaemonError.badRequest(problem) }
        let configuration = MachineConfiguration(memoryMiB: definition.memoryMiB, vcpuCount: definition.vcpus,
                                                 backend: try backend(of: definition),
                                                 boot: .guestImage(name: "", bytes: []))
        do {
            try configuration.validate()
        } catch {
            throw DaemonError.badRequest("\(error)")
        }
        switch definition.boot {
        case .guest(let name):
            guard BuiltInGuests.named(name) != nil else {
                throw DaemonError.badRequest(
                    "no built-in guest named '\(name)' (built-in guests: \(BuiltInGuests.all.map(\.name).joined(separator: ", ")))")
            }
        case .image, .linux:
            for (role, path) in definition.boot.files {
                guard path.hasPrefix("/") else {
                    throw DaemonError.badRequest("the \(role) path '\(path)' must be absolute (the daemon has its own working directory)")
                }
                do {
                    try BootFile.check(path, role: role, limit: memoryLimit(definition))
                } catch {
                    throw DaemonError.badRequest("\(error)")
                }
            }
        }
    }

    static func backend(of definition: VMDefinition) throws -> BackendChoice {
        guard let choice = BackendChoice(rawValue: definition.backend) else {
            throw DaemonError.badRequest(
                "unknown backend '\(definition.backend)' (use \(BackendChoice.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return choice
    }

    /// The machine configuration for a start, reading the boot files now (they may have changed since the define).
    static func configuration(for definition: VMDefinition) throws -> MachineConfiguration {
        let boot: BootSource
        var interruptController: InterruptControllerMode?
        do {
            switch definition.boot {
            case .guest(let name):
                guard let guest = BuiltInGuests.named(name) else {
                    throw DaemonError.unprocessable("no built-in guest named '\(name)'")
                }
                boot = .guestImage(name: guest.name, bytes: guest.image)
                if guest.needsInterruptController { interruptController = .full }
            case .image(let path):
                boot = .guestImage(name: path, bytes: try BootFile.read(path, role: "image", limit: memoryLimit(definition)))
            case .linux(let kernel, let initrd, let commandLine):
                let limit = memoryLimit(definition)
                boot = .linux(kernel: try BootFile.read(kernel, role: "kernel", limit: limit),
                              initrd: try initrd.map { try BootFile.read($0, role: "initrd", limit: limit) },
                              commandLine: commandLine ?? "console=ttyS0")
            }
        } catch let failure as BootFile.Failure {
            throw DaemonError.unprocessable(failure.description)
        }
        return MachineConfiguration(memoryMiB: definition.memoryMiB, vcpuCount: definition.vcpus,
                                    backend: try backend(of: definition), boot: boot,
                                    interruptController: interruptController)
    }

    private static func memoryLimit(_ definition: VMDefinition) -> UInt64 {
        UInt64(max(definition.memoryMiB, 0)) << 20
    }
}
