import ApusAPI
import ApusDisk
import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

/// Runs each VM in a worker process of its own (`apusd worker`): a guest that breaks out of its emulation, or a bug
/// in a device model, takes down one worker, never the daemon or another VM.
struct WorkerMachines: MachineLauncher {
    let boot: BootPreparation
    /// The daemon's own executable (/proc/self/exe), run with the `worker` subcommand.
    let executable: String
    let cgroups: WorkerCgroups
    let logger: Logger

    func start(_ definition: VMDefinition, ownedOverlays: [String], vm id: String,
               console: ConsoleHub) throws -> any MachineHandle {
        let files = try boot.openFiles(for: definition)
        let passed = zip(definition.boot.files, files).enumerated().map { index, pair in
            PassedBootFile(role: pair.0.role, path: pair.0.path,
                           descriptor: WorkerProtocol.channelDescriptor + 1 + Int32(index))
        }
        let disks = try boot.openDisks(for: definition, ownedOverlays: ownedOverlays)
        var start = WorkerStart(vm: id, definition: definition, bootFiles: passed)
        start.disks = Self.passed(disks, from: WorkerProtocol.channelDescriptor + 1 + Int32(files.count))
        // The daemon's descriptors stay open until the worker has its copies.
        return try withExtendedLifetime((files, disks)) {
            try launch(start, files: files.map(\.descriptor) + disks.flatMap { $0.files.map(\.descriptor) },
                       console: console)
        }
    }

    func restore(_ definition: VMDefinition, ownedOverlays: [String], vm id: String, from directory: String,
                 console: ConsoleHub) throws -> any MachineHandle {
        // The saved machine's disks are the definition's (a definition cannot change while the VM is suspended).
        let disks = try boot.openDisks(for: definition, ownedOverlays: ownedOverlays)
        var start = WorkerStart(vm: id, definition: definition, bootFiles: [], restoreFrom: directory)
        start.disks = Self.passed(disks, from: WorkerProtocol.channelDescriptor + 1)
        return try withExtendedLifetime(disks) {
            try launch(start, files: disks.flatMap { $0.files.map(\.descriptor) }, console: console)
        }
    }

    /// The disks as the worker sees them: the same files at the descriptor numbers the spawn gives them, in order
    /// from `first`.
    private static func passed(_ disks: [OpenedDiskChain], from first: Int32) -> [PassedDisk] {
        var next = first
        return disks.map { disk in
            PassedDisk(path: disk.attachment.path, readOnly: disk.attachment.readOnly, chain: disk.files.map { file in
                defer { next += 1 }
                return HandedOverDiskFile(path: file.path, descriptor: next)
            })
        }
    }

    private func launch(_ start: WorkerStart, files: [Int32], console: ConsoleHub) throws -> any MachineHandle {
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw DaemonError.internal("cannot make a channel to a worker: \(String(cString: strerror(errno)))")
        }
        let pid: pid_t
        do {
            pid = try WorkerSpawn.spawn(executable: executable, channel: pair[1], files: files,
                                        environment: Self.environment)
        } catch {
            close(pair[0])
            close(pair[1])
            throw error
        }
        close(pair[1])
        let cgroup = cgroups.place(pid, vm: start.vm, guestMemoryMiB: start.definition.memoryMiB)
        if cgroup == nil, let parent = cgroups.parent {
            logger.warning("VM \(start.definition.name): its worker stays in apusd's cgroup: cannot create one under \(parent)",
                           metadata: ["vm": "\(start.vm)"])
        }
        let machine = WorkerMachine(pid: pid, channel: WorkerChannel(descriptor: pair[0]), vm: start.vm,
                                    name: start.definition.name, console: console, cgroup: cgroup, logger: logger)
        try machine.begin(start)
        return machine
    }

    /// A worker gets an empty environment, but for the tests' fault hook.
    private static var environment: [String] {
        guard let hook = ProcessInfo.processInfo.environment[VMWorker.crashHookVariable] else { return [] }
        return ["\(VMWorker.crashHookVariable)=\(hook)"]
    }
}
