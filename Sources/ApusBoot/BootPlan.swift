public import ApusCore

/// What a loader produces: the vCPU state to enter the guest with, and one line describing what was loaded
/// ("ELF64 kernel, entry 0x1000000, initrd 3.1 MiB at 0x3cf0000").
public struct BootPlan: Sendable {
    public var registers: Registers
    public var specialRegisters: SpecialRegisters
    public var summary: String

    public init(registers: Registers, specialRegisters: SpecialRegisters, summary: String) {
        self.registers = registers
        self.specialRegisters = specialRegisters
        self.summary = summary
    }
}
