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

    enum CodingKeys: String, CodingKey {
        case memoryMiB, vcpuCount, backend, unmappedAccess, interruptController, disks
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
    }
}

extension MachineConfiguration {
    var platform: MachinePlatform {
        MachinePlatform(memoryMiB: memoryMiB, vcpuCount: vcpuCount, backend: backend,
                        unmappedAccess: effectiveUnmappedAccess, interruptController: effectiveInterruptController,
                        disks: disks)
    }
}
