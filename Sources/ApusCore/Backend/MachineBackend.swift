/// A virtual machine on one backend: guest memory mapped in, vCPUs created on demand, interrupt lines for devices.
public protocol MachineBackend: AnyObject, Sendable {
    /// "kvm" or "soft": shown to users and recorded in metrics.
    var backendName: String { get }
    var memory: GuestMemory { get }

    /// Creates vCPU `index`. Call it on the OS thread that will run that vCPU.
    func makeVCPU(index: Int) throws -> any VCPUBackend

    /// The input of the interrupt controller at global system interrupt `gsi` (ISA IRQs 0-15 keep their numbers).
    /// A GSI the machine's controllers have no pin for is `InterruptRoutingError.unroutable`.
    func interruptLine(_ gsi: UInt32) throws -> any InterruptLine

    /// Machine-wide state the backend keeps itself (KVM: the in-kernel PIC and IOAPIC, the guest clock), by name,
    /// for suspend and migration. Call it with every vCPU parked.
    func captureMachineState() throws -> [String: [UInt8]]
    /// Puts back what `captureMachineState` returned, before any vCPU runs.
    func restoreMachineState(_ state: [String: [UInt8]]) throws

    /// Whether the VMM must supply the interrupt controller of a machine that has one (true for a backend without
    /// an in-kernel irqchip); it then calls `connect` before asking for any `interruptLine`.
    var needsExternalInterruptController: Bool { get }
    /// Connects the VMM's interrupt controller: its lines become this machine's `interruptLine`s and its INTR the
    /// vCPUs' external interrupt input.
    func connect(_ controller: any ExternalInterruptController)
    /// Whether the VMM must supply one local APIC per vCPU (the software CPU with the interrupt-controller
    /// platform); it then calls `connect(localAPICs:)` before any vCPU is made.
    var needsLocalAPICs: Bool { get }
    /// Gives vCPU `i` its local APIC `localAPICs[i]`.
    func connect(localAPICs: [any LocalInterruptController])
    /// The controller's INTR rose: wake a vCPU halted waiting for an interrupt.
    func externalInterruptRaised()
    /// Where the backend reports what the VM log should say (an opcode the software CPU does not implement, say).
    /// Set before any vCPU is made.
    func setDiagnosticsHandler(_ handler: @escaping @Sendable (String) -> Void)
    /// Where PCI devices' MSIs go when the backend's own interrupt controllers serve the machine (KVM's in-kernel
    /// irqchip); nil when the VMM supplies the local APICs, whose bus takes them instead.
    var messageSignalledInterrupts: (any MSISink)? { get }
}

extension MachineBackend {
    public var needsExternalInterruptController: Bool { false }
    public func connect(_ controller: any ExternalInterruptController) {}
    public var needsLocalAPICs: Bool { false }
    public func connect(localAPICs: [any LocalInterruptController]) {}
    public func externalInterruptRaised() {}
    public func setDiagnosticsHandler(_ handler: @escaping @Sendable (String) -> Void) {}
    public func captureMachineState() throws -> [String: [UInt8]] { [:] }
    public func restoreMachineState(_ state: [String: [UInt8]]) throws {}
    public var messageSignalledInterrupts: (any MSISink)? { nil }
}

/// Creates machines on one kind of backend. `isUsable` says whether it can run here, and if not, why.
public protocol Hypervisor: Sendable {
    var name: String { get }
    func availability() -> HypervisorAvailability
    func makeMachine(memory: GuestMemory, options: MachineOptions) throws -> any MachineBackend
}

/// How a machine's platform is put together, as far as the backend is concerned.
public struct MachineOptions: Sendable, Equatable {
    public var vcpuCount: Int
    public var interruptController: InterruptControllerMode

    public init(vcpuCount: Int = 1, interruptController: InterruptControllerMode = .none) {
        self.vcpuCount = vcpuCount
        self.interruptController = interruptController
    }
}

public enum InterruptControllerMode: String, Sendable, Equatable, Codable {
    /// No interrupt controller: interrupt lines go nowhere and HLT always leaves `run()` with `.halt`, the way our
    /// small test guests end. Like a board without a PIC.
    case none
    /// PIC, IOAPIC and LAPIC emulated by the backend (KVM's in-kernel irqchip; the software CPU's own model).
    /// HLT then sleeps until an interrupt or a kick. Needed by Linux.
    case full
}

public enum HypervisorAvailability: Sendable, Equatable {
    case usable
    case unusable(reason: String)

    public var isUsable: Bool { self == .usable }
}
