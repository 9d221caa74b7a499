public import ApusCore

/// Everything needed to build one machine.
public struct MachineConfiguration: Sendable {
    public static let defaultMemoryMiB = 64
    /// RAM is one region from 0, and it must stay below the MMIO window at 0xD000_0000 (ResourceAllocator).
    public static let maximumMemoryMiB = 3 * 1024
    /// The most vCPUs a machine may have on any backend (each backend may allow fewer: `Hypervisor.maximumVCPUs`).
    public static let maximumVCPUs = 64

    public var memoryMiB: Int
    public var vcpuCount: Int
    public var backend: BackendChoice
    public var boot: BootSource
    /// What a guest's access to an address without a device does; `nil` picks the boot source's default
    /// (fail for our own guests, ignore for Linux, which probes absent legacy ports).
    public var unmappedAccess: UnmappedAccessPolicy?
    /// Whether the machine has the PC's interrupt controllers and timers (PIC, IOAPIC, PIT, CMOS clock in the VMM;
    /// the local APICs the VMM's on the software CPU, the kernel's on KVM); `nil` picks the boot source's default (yes for Linux, no for our own guests, whose final HLT
    /// then ends the run).
    public var interruptController: InterruptControllerMode?
    /// virtio-blk disks on the PCI bus, in order (the first is /dev/vda); they need the interrupt-controller platform.
    public var disks: [DiskAttachment]
    /// virtio-net devices on the PCI bus, each on a host TAP interface (eth0, eth1, ... in the guest).
    public var networks: [NetworkAttachment] = []
    /// A virtio-rng device on the PCI bus, fed from the host's getrandom(2).
    public var entropy = false
    /// A virtio-console device on the PCI bus (/dev/hvc0 in the guest) connected to this host path: a Unix socket
    /// (connected to, both directions), or a file or FIFO (the guest's output only).
    public var secondConsole: String?
    /// How the software CPU runs guest code, if it is the backend (KVM ignores it).
    public var softCPU: SoftCPUMode = .default

    public init(memoryMiB: Int = MachineConfiguration.defaultMemoryMiB, vcpuCount: Int = 1,
                backend: BackendChoice = .auto, boot: BootSource, unmappedAccess: UnmappedAccessPolicy? = nil,
                interruptController: InterruptControllerMode? = nil, disks: [DiskAttachment] = []) {
        self.memoryMiB = memoryMiB
        self.vcpuCount = vcpuCount
        self.backend = backend
        self.boot = boot
        self.unmappedAccess = unmappedAccess
        self.interruptController = interruptController
        self.disks = disks
    }

    /// Rejects values no machine can be built from, with a message naming the field.
    public func validate() throws {
        guard (2...Self.maximumMemoryMiB).contains(memoryMiB) else {
            throw VMMError.invalidConfiguration("memory must be between 2 and \(Self.maximumMemoryMiB) MiB, got \(memoryMiB)")
        }
        guard (1...Self.maximumVCPUs).contains(vcpuCount) else {
            throw VMMError.invalidConfiguration("vCPUs must be between 1 and \(Self.maximumVCPUs), got \(vcpuCount)")
        }
        // Application processors are started by the bootstrap processor's INIT and start-up IPIs, which only local
        // APICs send and receive.
        guard vcpuCount == 1 || effectiveInterruptController == .full else {
            throw VMMError.invalidConfiguration(
                "\(vcpuCount) vCPUs need the interrupt-controller platform (local APICs start the application processors)")
        }
        guard disks.isEmpty || effectiveInterruptController == .full else {
            throw VMMError.invalidConfiguration("disks sit on the PCI bus, which needs the interrupt-controller platform")
        }
        guard (networks.isEmpty && !entropy && secondConsole == nil) || effectiveInterruptController == .full else {
            throw VMMError.invalidConfiguration(
                "network, entropy and console devices sit on the PCI bus, which needs the interrupt-controller platform")
        }
        guard networks.count <= PlatformLayout.maximumNetworks else {
            throw VMMError.invalidConfiguration("at most \(PlatformLayout.maximumNetworks) networks, got \(networks.count)")
        }
        guard Set(networks.map(\.tap)).count == networks.count else {
            throw VMMError.invalidConfiguration("each network needs its own TAP interface")
        }
        guard disks.count <= PlatformLayout.maximumDisks else {
            throw VMMError.invalidConfiguration("at most \(PlatformLayout.maximumDisks) disks, got \(disks.count)")
        }
    }

    var effectiveUnmappedAccess: UnmappedAccessPolicy {
        if let unmappedAccess { return unmappedAccess }
        if case .linux = boot { return .ignore }
        return .fail
    }

    var effectiveInterruptController: InterruptControllerMode {
        if let interruptController { return interruptController }
        if case .linux = boot { return .full }
        return .none
    }
}
