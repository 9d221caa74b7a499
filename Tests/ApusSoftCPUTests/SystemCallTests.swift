import ApusCore
import ApusSoftCPU
import Testing

/// SYSCALL, SYSRET and SWAPGS as the SDM defines them (Linux's system-call entry and exit).
@Suite struct SystemCallTests {
    static let star: UInt64 = (0x0023 << 48) | (0x0010 << 32)   // user base 0x23 (CS 0x33, SS 0x2B), kernel CS 0x10

    private func machine(code: [UInt8]) throws -> SoftCPUTestMachine {
        let machine = try SoftCPUTestMachine(code: code)
        var special = try machine.vcpu.specialRegisters()
        special.efer |= ControlRegister.eferSCE
        try machine.vcpu.setSpecialRegisters(special)
        try machine.vcpu.setMSRs([MSR.star: Self.star, MSR.lstar: SoftCPUTestMachine.codeBase + 0x10, MSR.sfmask: 0x200])
        return machine
    }

    @Test func syscallEntersTheKernelEntryPoint() throws {
        var code: [UInt8] = [0x0F, 0x05] + [UInt8](repeating: 0x90, count: 14)
        code += [0xF4]
        let machine = try machine(code: code)
        var registers = try machine.vcpu.registers()
        registers.rflags = 0x202
        try machine.vcpu.setRegisters(registers)
        #expect(try machine.runToHalt() == ["halt"])
        let after = try machine.vcpu.registers()
        #expect(after.rcx == SoftCPUTestMachine.codeBase + 2)
        #expect(after.r11 == 0x202)
        #expect(after.rflags & 0x200 == 0)                      // IF masked by SFMASK
        #expect(after.rip == SoftCPUTestMachine.codeBase + 0x11)
        #expect(try machine.vcpu.specialRegisters().cs.selector == 0x10)
        #expect(try machine.vcpu.specialRegisters().ss.selector == 0x18)
    }

    @Test func sysretqReturnsToUserMode() throws {
        // sysretq to a HLT, which faults at CPL3; with no IDT that is a triple fault, leaving the state to inspect.
        var code: [UInt8] = [0x48, 0x0F, 0x07] + [UInt8](repeating: 0x90, count: 0x1D)
        code += [0xF4]
        let machine = try machine(code: code)
        var registers = try machine.vcpu.registers()
        registers.rcx = SoftCPUTestMachine.codeBase + 0x20
        registers.r11 = 0x3202
        try machine.vcpu.setRegisters(registers)
        #expect(try machine.runToHalt() == ["shutdown"])
        let special = try machine.vcpu.specialRegisters()
        #expect(special.cs.selector == 0x33 && special.cs.l && special.cs.dpl == 3)
        #expect(special.ss.selector == 0x2B)
        #expect(try machine.vcpu.registers().rip == SoftCPUTestMachine.codeBase + 0x20)
    }

    @Test func swapgsExchangesTheGSBases() throws {
        let machine = try machine(code: [0x0F, 0x01, 0xF8, 0xF4])
        try machine.vcpu.setMSRs([MSR.gsBase: 0x1111, MSR.kernelGSBase: 0x2222])
        #expect(try machine.runToHalt() == ["halt"])
        #expect(try machine.vcpu.msrs([MSR.gsBase, MSR.kernelGSBase]) == [MSR.gsBase: 0x2222, MSR.kernelGSBase: 0x1111])
    }

    @Test func syscallWithoutSCEIsInvalid() throws {
        let machine = try SoftCPUTestMachine(code: [0x0F, 0x05])
        #expect(try machine.runToHalt() == ["shutdown"])           // #UD with no IDT
    }
}
