/// A virtual machine on one backend: guest memory mapped in, vCPUs created on demand, interrupt lines for devices.
public protocol MachineBackend: AnyObject, Sendable {
    /// "kvm" or "soft": shown to users and recorded in metrics.
    var backendName: String { get }
    var memory: GuestMemory { get }

    /// Creates vCPU `index`. Call it on the OS thread that will run that vCPU.
    func makeVCPU(index: Int) throws -> any VCPUBackend

    /// The input of the interrupt controller at global system interrupt `gsi` (ISA IRQs 0-15 keep their numbers).
    func interruptLine(_ gsi: UInt32) -> any InterruptLine
}

/// Creates machines on one kind of backend. `isUsable` says whether it can run here, and if not, why.
public protocol Hypervisor: Sendable {
    var name: String { get }
    func availability() -> HypervisorAvailability
    func makeMachine(memory: GuestMemory, vcpuCount: Int) throws -> any MachineBackend
}

public enum HypervisorAvailability: Sendable, Equatable {
    case usable
    case unusable(reason: String)

    public var isUsable: Bool { self == .usable }
}
