public import ApusCore

/// The shape of a machine that outlives one run: what a suspended machine needs to be rebuilt, without its boot
/// image (the guest is already in memory by then).
public struct MachinePlatform: Sendable, Codable, Equatable {
    public var memoryMiB: Int
    public var vcpuCount: Int
    public var backend: BackendChoice
    public var unmappedAccess: UnmappedAccessPolicy
    public var interruptController: InterruptControllerMode
    /// The disk images, reopened when a suspended machine is restored.
    public var disks: [DiskAttachment]
    /// The PCI bus's other devices, reconnected to their host side when a suspended machine is restored.
    public var networks: [NetworkAttachment] = []
    public var entropy = false
    public var secondConsole: String?

    enum CodingKeys: String, CodingKey {
        case memoryMiB, vcpuCount, backend, unmappedAccess, interruptController, disks, networks, entropy, secondConsole
    }

    init(memoryMiB: Int, vcpuCount: Int, backend: BackendChoice, unmappedAccess: UnmappedAccessPolicy,
         interruptController: InterruptControllerMode, disks: [DiskAttachment]) {
        self.memoryMiB = memoryMiB
        self.vcpuCount = vcpuCount
        self.backend = backend
        self.unmappedAccess = unmappedAccess
        self.interruptController = interruptController
        self.disks = disks
    }

    /// Machines suspended before disks existed decode with none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        memoryMiB = try container.decode(Int.self, forKey: .memoryMiB)
        vcpuCount = try container.decode(Int.self, forKey: .vcpuCount)
        backend = try container.decode(BackendChoice.self, forKey: .backend)
        unmappedAccess = try container.decode(UnmappedAccessPolicy.self, forKey: .unmappedAccess)
        interruptController = try container.decode(InterruptControllerMode.self, forKey: .interruptController)
        disks = try container.decodeIfPresent([DiskAttachment].self, forKey: .disks) ?? []
        networks = try container.decodeIfPresent([NetworkAttachment].self, forKey: .networks) ?? []
        entropy = try container.decodeIfPresent(Bool.self, forKey: .entropy) ?? false
        secondConsole = try container.decodeIfPresent(String.self, forKey: .secondConsole)
    }
}

extension MachineConfiguration {
    var platform: MachinePlatform {
        var platform = MachinePlatform(memoryMiB: memoryMiB, vcpuCount: vcpuCount, backend: backend,
                                       unmappedAccess: effectiveUnmappedAccess,
                                       interruptController: effectiveInterruptController, disks: disks)
        platform.networks = networks
        platform.entropy = entropy
        platform.secondConsole = secondConsole
        return platform
    }
}
