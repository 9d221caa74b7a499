import ApusCore

/// The CPU's side of its local APIC (when the machine has one): the register page in the physical address space,
/// IA32_APIC_BASE, the x2APIC MSRs, IA32_TSC_DEADLINE, CR8, and what CPUID says about them.
extension CPUCore {
    static let x2APICFirstMSR: UInt32 = 0x800
    static let x2APICLastMSR: UInt32 = 0x8FF
    static let tscDeadlineMSR: UInt32 = 0x6E0
    /// CPUID.1:EDX.APIC, CPUID.1:ECX.x2APIC and CPUID.1:ECX.TSC-Deadline.
    static let cpuidAPIC: UInt32 = 1 << 9
    static let cpuidX2APIC: UInt32 = 1 << 21
    static let cpuidTSCDeadline: UInt32 = 1 << 24

    /// CPUID as the model answers, told the truth about the APIC: without one the APIC, x2APIC and TSC-deadline
    /// bits are clear; with one CPUID.1:EBX[31:24] is its ID.
    func cpuidWithAPIC(leaf: UInt32, subleaf: UInt32) -> (UInt32, UInt32, UInt32, UInt32) {
        var (a, b, c, d) = model.cpuid(leaf: leaf, subleaf: subleaf)
        // Leaves past the model's maxima keep the model's answer (zeros), as topology leaves it lacks must.
        if let topology, leaf <= CPUModel.maximumBasicLeaf
            || (leaf >= 0x8000_0000 && leaf <= CPUModel.maximumExtendedLeaf) {
            (a, b, c, d) = topology.apply(leaf: leaf, subleaf: subleaf, (a, b, c, d))
        }
        guard leaf == 1 else { return (a, b, c, d) }
        if let localAPIC {
            b = (b & 0x00FF_FFFF) | (localAPIC.apicID & 0xFF) << 24
            // A globally disabled APIC disappears from CPUID.1:EDX (SDM 11.4.3).
            if localAPIC.baseMSR & (1 << 11) == 0 { d &= ~Self.cpuidAPIC }
        } else {
            d &= ~Self.cpuidAPIC
            c &= ~(Self.cpuidX2APIC | Self.cpuidTSCDeadline)
        }
        return (a, b, c, d)
    }

    /// RDMSR of an APIC MSR; nil when `index` is not one.
    func readAPICMSR(_ index: UInt32) throws -> UInt64? {
        if index == MSR.apicBase { return localAPIC?.baseMSR ?? sregs.apicBase }
        guard index == Self.tscDeadlineMSR || (Self.x2APICFirstMSR...Self.x2APICLastMSR).contains(index) else { return nil }
        guard let localAPIC, let value = localAPIC.readMSR(index) else { throw CPUFault.gp() }
        return value
    }

    /// WRMSR of an APIC MSR; false when `index` is not one.
    func writeAPICMSR(_ index: UInt32, _ value: UInt64) throws -> Bool {
        if index == MSR.apicBase {
            if let localAPIC, !localAPIC.setBaseMSR(value) { throw CPUFault.gp() }
            sregs.apicBase = value
            return true
        }
        if index == Self.tscDeadlineMSR {
            guard let localAPIC else { throw CPUFault.gp() }
            let now = timeStampCounter.value
            let ticks = value > now ? value - now : 0
            // TSC ticks to nanoseconds at the model's frequency, without overflowing.
            let product = ticks.multipliedFullWidth(by: 1_000_000)
            let delay = product.high >= timeStampCounter.kilohertz
                ? UInt64.max : timeStampCounter.kilohertz.dividingFullWidth((product.high, product.low)).quotient
            localAPIC.armTSCDeadline(raw: value, delay: delay)
            return true
        }
        guard (Self.x2APICFirstMSR...Self.x2APICLastMSR).contains(index) else { return false }
        guard let localAPIC, localAPIC.writeMSR(index, value) else { throw CPUFault.gp() }
        return true
    }

    /// MOV from CR8: the TPR's priority class.
    var taskPriorityRegister: UInt64 { localAPIC.map { UInt64($0.taskPriorityClass) } ?? sregs.cr8 }

    /// MOV to CR8: bits 63:4 are reserved (#GP).
    func setTaskPriorityRegister(_ value: UInt64) throws {
        guard value & ~0xF == 0 else { throw CPUFault.gp() }
        sregs.cr8 = value
        localAPIC?.setTaskPriorityClass(UInt8(value))
    }

    /// The APIC page takes loads and stores that miss RAM, before they become an exit for the VMM.
    @inline(__always)
    func apicPageRead(_ address: UInt64, size: Int) -> UInt64? {
        guard let localAPIC, localAPIC.mapsRegisterPage(at: address) else { return nil }
        return localAPIC.readRegister(offset: address & 0xFFF, size: size)
    }

    @inline(__always)
    func apicPageWrite(_ address: UInt64, size: Int, _ value: UInt64) -> Bool {
        guard let localAPIC, localAPIC.mapsRegisterPage(at: address) else { return false }
        localAPIC.writeRegister(offset: address & 0xFFF, size: size, value: value)
        return true
    }
}
