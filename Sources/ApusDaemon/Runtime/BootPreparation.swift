import ApusAPI
import ApusDisk
import ApusGuests
import ApusCore
import ApusVMM

/// Turns a definition into something the VMM can build: checks it when it is defined or updated (names, sizes,
/// backend, built-in guest, boot files and disks under the image-root policy) and reads its files when it starts,
/// checking them again on the descriptor it reads from.
struct BootPreparation: Sendable {
    let imageRoots: ImageRoots
    let disks: DiskPolicy

    init(imageRoots: ImageRoots, clonesDirectory: String) {
        self.imageRoots = imageRoots
        self.disks = DiskPolicy(imageRoots: imageRoots, clonesDirectory: ImageRoots.resolve(clonesDirectory) ?? clonesDirectory)
    }

    /// Problems a definition has before anything runs; the message names the field or the rule broken.
    /// `ownedOverlays` are the clone overlays the VM may name (its own).
    func validate(_ definition: VMDefinition, ownedOverlays: [String] = []) throws {
        if let problem = VMDefinition.problem(withName: definition.name) { throw DaemonError.badRequest(problem) }
        let configuration = MachineConfiguration(memoryMiB: definition.memoryMiB, vcpuCount: definition.vcpus,
                                                 backend: try Self.backend(of: definition),
                                                 boot: .guestImage(name: "", bytes: []),
                                                 interruptController: definition.vcpus > 1 ? .full : nil)
        do {
            try configuration.validate()
        } catch {
            throw DaemonError.badRequest("\(error)")
        }
        switch definition.boot {
        case .guest(let name):
            guard BuiltInGuests.named(name) != nil else {
                throw DaemonError.unprocessable(
                    "no built-in guest named '\(name)' (built-in guests: \(BuiltInGuests.all.map(\.name).joined(separator: ", ")))")
            }
        case .image, .linux:
            for (role, path) in definition.boot.files {
                do {
                    _ = try imageRoots.open(path, role: role, limit: Self.memoryLimit(definition))
                } catch {
                    // Well-formed, but the file may not be used: 422, naming the rule.
                    throw DaemonError.unprocessable("\(error)")
                }
            }
        }
        _ = try checkedDisks(definition, ownedOverlays: ownedOverlays)
    }

    /// Every disk under the policy, as the VMM attaches them (canonical paths). The same file twice is refused: two
    /// devices writing one image would corrupt it.
    func checkedDisks(_ definition: VMDefinition, ownedOverlays: [String]) throws -> [DiskAttachment] {
        guard definition.disks.count <= VMDefinition.maximumDisks else {
            throw DaemonError.badRequest("at most \(VMDefinition.maximumDisks) disks, got \(definition.disks.count)")
        }
        var attachments: [DiskAttachment] = []
        for (index, disk) in definition.disks.enumerated() {
            let checked: DiskPolicy.Checked
            do {
                checked = try disks.check(disk, index: index, ownedOverlays: ownedOverlays)
            } catch {
                throw DaemonError.unprocessable("\(error)")
            }
            if let earlier = attachments.firstIndex(where: { $0.path == checked.path }) {
                throw DaemonError.unprocessable(
                    "disk \(index) '\(disk.path)' is the same file as disk \(earlier); a VM may attach an image once")
            }
            attachments.append(DiskAttachment(path: checked.path, readOnly: disk.readOnly))
        }
        return attachments
    }

    static func backend(of definition: VMDefinition) throws -> BackendChoice {
        guard let choice = BackendChoice(rawValue: definition.backend) else {
            throw DaemonError.badRequest(
                "unknown backend '\(definition.backend)' (use \(BackendChoice.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return choice
    }

    /// The boot files of a definition opened under the policy and checked, for a worker that reads them (it gets the
    /// descriptors, never the paths to open).
    func openFiles(for definition: VMDefinition) throws -> [OpenedBootFile] {
        do {
            return try definition.boot.files.map { role, path in
                try imageRoots.open(path, role: role, limit: Self.memoryLimit(definition))
            }
        } catch let failure as BootFile.Failure {
            throw DaemonError.unprocessable(failure.description)
        }
    }

    /// Every disk of a definition checked like `checkedDisks` and its whole chain opened (the image read-write unless
    /// it is attached readonly, backing files read-only), for a worker that gets the descriptors and opens no path.
    func openDisks(for definition: VMDefinition, ownedOverlays: [String]) throws -> [OpenedDiskChain] {
        _ = try checkedDisks(definition, ownedOverlays: ownedOverlays)
        return try definition.disks.enumerated().map { index, disk in
            do {
                return try disks.openChain(disk, index: index, ownedOverlays: ownedOverlays)
            } catch {
                throw DaemonError.unprocessable("\(error)")
            }
        }
    }

    /// The machine configuration for a start, reading the boot files and checking the disks now (they may have
    /// changed since the define). The one place a definition becomes a MachineConfiguration. A worker passes the
    /// boot files (`files`) and disks (`handedOverDisks`, descriptors included) the daemon opened under the policy;
    /// by default they are opened here.
    func configuration(for definition: VMDefinition, ownedOverlays: [String] = [],
                       files: (any BootFileSource)? = nil,
                       handedOverDisks: [DiskAttachment]? = nil) throws -> MachineConfiguration {
        let files = files ?? imageRoots
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
                boot = .guestImage(name: path, bytes: try read(path, role: "image", definition, from: files))
            case .linux(let kernel, let initrd, let commandLine):
                boot = .linux(kernel: try read(kernel, role: "kernel", definition, from: files),
                              initrd: try initrd.map { try read($0, role: "initrd", definition, from: files) },
                              commandLine: commandLine ?? "console=ttyS0")
            }
        } catch let failure as BootFile.Failure {
            throw DaemonError.unprocessable(failure.description)
        }
        let attachments = try handedOverDisks ?? checkedDisks(definition, ownedOverlays: ownedOverlays)
        // Disks sit on the PCI bus, and application processors are started through local APICs: both need the
        // interrupt-controller platform.
        if !attachments.isEmpty || definition.vcpus > 1 { interruptController = .full }
        return MachineConfiguration(memoryMiB: definition.memoryMiB, vcpuCount: definition.vcpus,
                                    backend: try Self.backend(of: definition), boot: boot,
                                    interruptController: interruptController, disks: attachments)
    }

    /// Opens under the policy and reads from the very descriptor that was checked.
    private func read(_ path: String, role: String, _ definition: VMDefinition,
                      from files: any BootFileSource) throws -> [UInt8] {
        try files.open(path, role: role, limit: Self.memoryLimit(definition)).readAll()
    }

    static func memoryLimit(_ definition: VMDefinition) -> UInt64 {
        UInt64(max(definition.memoryMiB, 0)) << 20
    }
}

/// Where a start's boot files come from: opened under the image-root policy (the daemon), or handed over already
/// opened (a worker).
protocol BootFileSource: Sendable {
    func open(_ path: String, role: String, limit: UInt64) throws -> OpenedBootFile
}

extension ImageRoots: BootFileSource {}
