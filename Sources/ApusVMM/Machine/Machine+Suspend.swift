import ApusCore
public import ApusDisk
public import ApusDevices
public import Foundation

extension Machine {
    /// Writes the complete machine — every vCPU's registers, FPU/SSE and MSRs, every device's state, and guest
    /// memory — into `directory`, crash-safely (see `SnapshotDirectory`). The machine must be paused; it stays paused,
    /// and the caller usually stops it afterwards to release its resources.
    public func suspend(to directory: URL) throws {
        let states = try control.performOnParkedVCPUs { vcpu in try vcpu.captureState() }
        var devices: [String: SavedDevice] = [:]
        for slot in parts.devices {
            if let saved = slot.withDevice({ SavedDevice.save($0) }) { devices[slot.name] = saved }
        }
        var vcpus = (0..<states.count).compactMap { states[$0] }
        LocalAPICTransfer.extract(from: &vcpus, into: &devices)
        flushDisks()
        var snapshot = MachineSnapshot(platform: platform,
                                       vcpus: vcpus,
                                       devices: devices, memory: [],
                                       machineState: try parts.backend.captureMachineState(),
                                       backend: backendName)
        snapshot.pciFunctions = parts.pci?.saveStates() ?? [:]
        guard snapshot.vcpus.count == platform.vcpuCount else {
            throw VMMError.invalidState("only \(snapshot.vcpus.count) of \(platform.vcpuCount) vCPUs could be captured")
        }
        try SnapshotDirectory.write(snapshot, memory: parts.memory, to: directory.path)
    }

    /// Checks that `directory` holds a complete machine state this build can read, without loading its memory.
    public static func checkSavedState(at directory: URL) throws {
        let snapshot = try SnapshotDirectory.read(from: directory.path)
        for file in snapshot.memory {
            let path = directory.path + "/" + file.file
            guard !file.file.contains("/"),
                  let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? UInt64,
                  size == file.size else {
                throw SnapshotError.corrupt("memory file \(file.file) is missing or has the wrong size")
            }
        }
    }

    /// Rebuilds a machine from a directory written by `suspend(to:)`. It starts paused: call `start()` then
    /// `resume()` and the guest continues exactly where it stopped.
    /// `handedOverDisks`, by the disk's path, are the images' chains already opened by whoever vetted them; when
    /// given, every disk of the saved machine must be among them (nothing is opened by path).
    public static func restore(from directory: URL, output: any SerialOutput, backend: BackendChoice? = nil,
                               handedOverDisks: [String: [HandedOverDiskFile]]? = nil) throws -> Machine {
        let snapshot = try SnapshotDirectory.read(from: directory.path)
        var platform = snapshot.platform
        if let handedOverDisks {
            for index in platform.disks.indices {
                guard let chain = handedOverDisks[platform.disks[index].path] else {
                    throw VMMError.invalidConfiguration(
                        "disk \(index) (\(platform.disks[index].path)) of the saved machine was not handed over")
                }
                platform.disks[index].handedOver = chain
            }
        }
        if let backend { platform.backend = backend }
        var resolution = try platform.backend.resolve()
        var note: String?
        if platform.backend == .auto && snapshot.backend == BackendChoice.soft.rawValue
            && resolution.hypervisor.name != snapshot.backend {
            // auto chose the software CPU when this machine booted (a kernel on a KVM without hardware
            // virtualization, or no usable KVM then); it stays there rather than move to a KVM that may not run it.
            resolution = try BackendChoice.soft.resolve()
            note = "the machine was suspended on the software CPU, so it resumes there (--backend kvm moves it)"
        }
        let hypervisor = resolution.hypervisor
        try checkVCPULimit(platform.vcpuCount, on: hypervisor)
        let control = RunControl(startPaused: true)
        // The command line fw_cfg reports comes back with its saved state.
        let (parts, _) = try MachineParts.build(platform: platform, hypervisor: hypervisor, output: output,
                                                control: control, commandLine: "") { memory in
            try SnapshotDirectory.loadMemory(snapshot, into: memory, from: directory.path)
        }
        if snapshot.backend == hypervisor.name {
            try parts.backend.restoreMachineState(snapshot.machineState)
        }
        for slot in parts.devices {
            guard let saved = snapshot.devices[slot.name] else {
                // Snapshots written before a device existed restore with that device as built.
                if MachineParts.devicesAddedLater.contains(slot.name) { continue }
                throw SnapshotError.corrupt("it has no state for device \(slot.name)")
            }
            try slot.withDevice { try saved.restore(into: $0, name: slot.name) }
        }
        try parts.pci?.restoreStates(snapshot.pciFunctions)
        var vcpus = snapshot.vcpus
        // Another backend's own state (KVM's event blobs, its paravirtual MSRs) means nothing here: only the
        // architectural MSRs cross, and the LAPICs as `lapicN` devices.
        if snapshot.backend != hypervisor.name {
            for index in vcpus.indices {
                vcpus[index].backendState = [:]
                vcpus[index].msrs = vcpus[index].msrs.filter { MSR.saved.contains($0.key) }
            }
        }
        if parts.backend.keepsLocalAPICsOnly { try LocalAPICTransfer.inject(from: snapshot.devices, into: &vcpus) }
        return Machine(parts: parts, control: control, backendName: hypervisor.name, backendNote: note,
                       summary: "restored machine from \(directory.path)",
                       entries: vcpus.map { .restore($0) })
    }
}
