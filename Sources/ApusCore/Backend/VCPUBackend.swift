/// One virtual CPU, on either backend.
///
/// A vCPU is owned by one OS thread: it is created on that thread (`MachineBackend.makeVCPU`) and every method but
/// `kicker` is called from it. Other threads reach it only through its `VCPUKicker`.
public protocol VCPUBackend: AnyObject {
    var index: Int { get }

    /// Runs guest code until the next exit. Port and MMIO reads are completed on the following call.
    func run() throws -> VCPUExit

    func registers() throws -> Registers
    func setRegisters(_ registers: Registers) throws
    func specialRegisters() throws -> SpecialRegisters
    func setSpecialRegisters(_ registers: SpecialRegisters) throws
    func fpu() throws -> FPUState
    func setFPU(_ fpu: FPUState) throws
    /// Values of the listed MSRs; indices the backend does not know are omitted.
    func msrs(_ indices: [UInt32]) throws -> [UInt32: UInt64]
    func setMSRs(_ values: [UInt32: UInt64]) throws

    /// Makes `run()` return `.interrupted` soon, from any thread, without losing a guest instruction.
    var kicker: any VCPUKicker { get }

    /// Makes this vCPU an application processor at power-on: `run()` executes nothing until its local APIC has
    /// received INIT and then a start-up IPI, and it then starts in real mode at the start-up vector's page.
    func awaitStartup() throws

    /// The whole architectural state, for suspend, snapshot and migration.
    func captureState() throws -> CPUState
    func restoreState(_ state: CPUState) throws
}

/// Wakes a vCPU out of `run()` from another thread. A kick that arrives before or during `run()` is never lost:
/// the next `run()` returns `.interrupted` without entering the guest.
public protocol VCPUKicker: Sendable {
    func kick()
}

extension VCPUBackend {
    public func captureState() throws -> CPUState {
        CPUState(registers: try registers(), specialRegisters: try specialRegisters(), fpu: try fpu(),
                 msrs: try msrs(MSR.saved))
    }

    public func restoreState(_ state: CPUState) throws {
        try setSpecialRegisters(state.specialRegisters)
        try setRegisters(state.registers)
        try setFPU(state.fpu)
        try setMSRs(state.msrs)
    }
}
