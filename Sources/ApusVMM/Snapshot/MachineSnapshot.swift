import ApusCore
import ApusDevices

/// The manifest of a suspended machine: everything but guest memory, which lives in the files it names.
struct MachineSnapshot: Codable, Sendable {
    /// 2: KVM machines run on the split irqchip, so their PIC, IOAPIC and PIT are saved as devices and each vCPU's
    /// LAPIC as a `lapicN` device, as on the software CPU (version 1 kept KVM's as kernel blobs).
    static let formatVersion = 2

    struct MemoryFile: Codable, Sendable {
        var start: UInt64
        var size: UInt64
        var file: String
    }

    var formatVersion = MachineSnapshot.formatVersion
    var platform: MachinePlatform
    /// By vCPU index.
    var vcpus: [CPUState]
    /// By device slot name.
    var devices: [String: SavedDevice]
    var memory: [MemoryFile]
    /// What the backend keeps machine-wide (KVM: the guest clock), restored only on the same backend.
    var machineState: [String: [UInt8]]
    /// The backend that captured `machineState` and the vCPUs' backend state ("kvm" or "soft").
    var backend: String?
    /// PCI functions' state (the virtio transport of each disk), by name ("disk0").
    var pciFunctions: [String: VirtioPCIFunction.State] = [:]

    init(platform: MachinePlatform, vcpus: [CPUState], devices: [String: SavedDevice], memory: [MemoryFile],
         machineState: [String: [UInt8]], backend: String?) {
        self.platform = platform
        self.vcpus = vcpus
        self.devices = devices
        self.memory = memory
        self.machineState = machineState
        self.backend = backend
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion, platform, vcpus, devices, memory, machineState, backend, pciFunctions
    }

    /// Manifests written before the backend's own state was saved decode with none.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try container.decode(Int.self, forKey: .formatVersion)
        platform = try container.decode(MachinePlatform.self, forKey: .platform)
        vcpus = try container.decode([CPUState].self, forKey: .vcpus)
        devices = try container.decode([String: SavedDevice].self, forKey: .devices)
        memory = try container.decode([MemoryFile].self, forKey: .memory)
        machineState = try container.decodeIfPresent([String: [UInt8]].self, forKey: .machineState) ?? [:]
        backend = try container.decodeIfPresent(String.self, forKey: .backend)
        pciFunctions = try container.decodeIfPresent([String: VirtioPCIFunction.State].self, forKey: .pciFunctions) ?? [:]
    }
}
