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

    /// Machine-wide state the backend keeps itself (KVM: the guest clock), by name,
    /// for suspend and migration. Call it with every vCPU parked.
    func captureMachineState() throws -> [String: [UInt8]]
    /// Puts back what `captureMachineState` returned, before any vCPU runs.
    func restoreMachineState(_ state: [String: [UInt8]]) throws

    /// Whether the VMM must supply the 8259A pair and IOAPIC of a machine that has them (both backends today: KVM
    /// runs the split irqchip); it then calls `connect` before asking for any `interruptLine`.
    var needsExternalInterruptController: Bool { get }
    /// Connects the VMM's interrupt controller: its lines become this machine's `interruptLine`s and its INTR the
    /// vCPUs' external interrupt input.
    func connect(_ controller: any ExternalInterruptController)
    /// Where message-signalled interrupts go when the backend's own interrupt controller takes them (KVM's in-kernel
    /// LAPICs through KVM_SIGNAL_MSI); nil when the VMM supplies the APICs (it then has its own `InterruptBus`).
    var msiSink: (any MSISink)? { get }
    /// Whether the VMM must supply one local APIC per vCPU (the software CPU with the interrupt-controller
    /// platform); it then calls `connect(localAPICs:)` before any vCPU is made.
    var needsLocalAPICs: Bool { get }
    /// Gives vCPU `i` its local APIC `localAPICs[i]`.
    func connect(localAPICs: [any LocalInterruptController])
    /// The controller's INTR rose: wake a vCPU halted waiting for an interrupt.
    func externalInterruptRaised()
    /// Local APIC `vcpu` (one `connect(localAPICs:)` gave) may have an interrupt to deliver: wake that vCPU.
    func localInterruptRaised(vcpu: Int)
    /// Whether the backend's local APICs are its own but the IOAPIC is the VMM's (KVM's split irqchip). The VMM then
    /// connects the IOAPIC with `connect(endOfInterruptListener:)` and reports every change of what its pins send
    /// with `ioapicRoutesChanged`, so the backend knows which vectors' EOIs to hand back.
    var keepsLocalAPICsOnly: Bool { get }
    /// Where the backend sends the EOIs of level-triggered IOAPIC vectors (the IOAPIC). Set before any vCPU is made.
    func connect(endOfInterruptListener: any EndOfInterruptListener)
    /// What each IOAPIC pin sends now, pin 0 first (masked pins included: an EOI may still be due for them).
    func ioapicRoutesChanged(_ routes: [MSIMessage])
    /// Where the backend reports what the VM log should say (an opcode the software CPU does not implement, say).
    /// Set before any vCPU is made.
    func setDiagnosticsHandler(_ handler: @escaping @Sendable (String) -> Void)
    /// The backend's log of the pages its vCPUs write, when it keeps one (dirty-page tracking).
    var guestWriteTracking: (any GuestWriteTracking)? { get }
}

extension MachineBackend {
    public var needsExternalInterruptController: Bool { false }
    public func connect(_ controller: any ExternalInterruptController) {}
    public var needsLocalAPICs: Bool { false }
    public var msiSink: (any MSISink)? { nil }
    public func connect(localAPICs: [any LocalInterruptController]) {}
    public func externalInterruptRaised() {}
    public func localInterruptRaised(vcpu: Int) { externalInterruptRaised() }
    public var keepsLocalAPICsOnly: Bool { false }
    public func connect(endOfInterruptListener: any EndOfInterruptListener) {}
    public func ioapicRoutesChanged(_ routes: [MSIMessage]) {}
    public func setDiagnosticsHandler(_ handler: @escaping @Sendable (String) -> Void) {}
    public func captureMachineState() throws -> [String: [UInt8]] { [:] }
    public func restoreMachineState(_ state: [String: [UInt8]]) throws {}
    public var guestWriteTracking: (any GuestWriteTracking)? { nil }
}

/// Creates machines on one kind of backend. `isUsable` says whether it can run here, and if not, why.
public protocol Hypervisor: Sendable {
    var name: String { get }
    func availability() -> HypervisorAvailability
    func makeMachine(memory: GuestMemory, options: MachineOptions) throws -> any MachineBackend
    /// How many vCPUs one machine may have on this backend here, and why not more.
    func vcpuLimit() -> VCPULimit
}

/// The most vCPUs a backend runs in one machine on this host, with the reason, for the refusal's message.
public struct VCPULimit: Sendable, Equatable {
    public let maximum: Int
    public let reason: String
    public init(maximum: Int, reason: String) {
        self.maximum = maximum
        self.reason = reason
    }
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
    /// The PC's interrupt controllers: the 8259A pair, the IOAPIC and the 8254 always in the VMM (the same Swift
    /// objects on both backends); the local APICs the VMM's on the software CPU, the kernel's on KVM (split
    /// irqchip). HLT then sleeps until an interrupt or a kick. Needed by Linux.
    case full
}

public enum HypervisorAvailability: Sendable, Equatable {
    case usable
    case unusable(reason: String)

    public var isUsable: Bool { self == .usable }
}
