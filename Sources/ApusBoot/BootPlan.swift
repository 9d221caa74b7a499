public import ApusCore

/// What a loader produces: the vCPU state to enter the guest with, and a line describing what was loaded.
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
