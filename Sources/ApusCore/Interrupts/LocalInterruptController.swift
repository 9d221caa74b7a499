/// A vCPU's local APIC as the software CPU drives it: the per-vCPU interrupt acceptor (pending vector, acknowledge,
/// EOI through its registers), its register page and MSRs, CR8, and its timer. The CPU calls it only from its own
/// vCPU thread; the APIC bus reaches it from others, so implementations lock their state.
public protocol LocalInterruptController: AnyObject, Sendable {
    /// IA32_APIC_BASE (MSR 0x1B): the register page's address, the global enable and x2APIC enable bits.
    var baseMSR: UInt64 { get }
    /// WRMSR to IA32_APIC_BASE; false for a value the architecture rejects with #GP (reserved bits, an illegal
    /// mode transition).
    func setBaseMSR(_ value: UInt64) -> Bool
    /// Whether the xAPIC register page answers at `address` (enabled, not in x2APIC mode).
    func mapsRegisterPage(at address: UInt64) -> Bool
    /// A load or store in the register page; `offset` is within the page. Unaligned or wide accesses follow what
    /// the hardware does for them (documented by the implementation), never a crash.
    func readRegister(offset: UInt64, size: Int) -> UInt64
    func writeRegister(offset: UInt64, size: Int, value: UInt64)
    /// RDMSR/WRMSR of 0x800-0x8FF (x2APIC) and 0x6E0 (IA32_TSC_DEADLINE, as a raw TSC value); nil or false means #GP.
    func readMSR(_ index: UInt32) -> UInt64?
    func writeMSR(_ index: UInt32, _ value: UInt64) -> Bool
    /// The TSC-deadline timer, armed by the CPU, which knows how its TSC maps onto time: `raw` is what the guest
    /// wrote (0 disarms), `delay` how many nanoseconds from now it stands for (0 if already past).
    func armTSCDeadline(raw: UInt64, delay nanoseconds: UInt64)
    /// CR8: TPR bits 7:4.
    var taskPriorityClass: UInt8 { get }
    func setTaskPriorityClass(_ value: UInt8)

    /// Fires the timer if it is due; returns how many nanoseconds remain until its next expiry, if armed, so a
    /// halted CPU knows how long it may sleep.
    func serviceTimer() -> UInt64?
    /// Whether an interrupt (or NMI) waits that the CPU would take with RFLAGS.IF set.
    var hasPendingInterrupt: Bool { get }
    /// The interrupt-acknowledge cycle: moves the highest deliverable vector from IRR to ISR (or runs the 8259's
    /// acknowledge for an ExtINT) and returns what the CPU must do.
    func acknowledge() -> AcceptedInterrupt?
    /// What an application processor waiting for start-up takes: a pending INIT (first) or start-up IPI, leaving
    /// every other interrupt pending, as a CPU in wait-for-SIPI does.
    func takeStartupSignal() -> AcceptedInterrupt?
    /// An NMI is delivered whatever RFLAGS.IF says: whether one waits, and taking it.
    var hasPendingNMI: Bool { get }
    func takeNMI() -> Bool
    /// The APIC's ID, for CPUID.1:EBX[31:24] and the x2APIC leaf.
    var apicID: UInt32 { get }
}

/// What an acknowledge hands the CPU.
public enum AcceptedInterrupt: Sendable, Equatable {
    /// Deliver through the IDT.
    case vector(UInt8)
    /// INIT: the CPU resets to wait-for-SIPI (an application processor) or ignores it (the bootstrap processor).
    case initialize
    /// Start-up IPI: an application processor waiting for SIPI starts in real mode at `vector << 12`.
    case startup(vector: UInt8)
}
