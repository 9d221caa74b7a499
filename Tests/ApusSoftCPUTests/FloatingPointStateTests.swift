import ApusCore
import ApusSoftCPU
import Testing

/// x87/SSE state instructions against the SDM's FXSAVE layout (Vol. 1, Table 10-2). KVM cannot referee these here:
/// this host's nested KVM emulates CPL0 code and gives up on them (an internal-error exit).
@Suite struct FloatingPointStateTests {
    @Test func fninitThenControlWordsAndFXSAVELayout() throws {
        // mov rdi, 0x200400; fninit; mov word [rdi], 0x27F; fldcw [rdi]; fnstcw [rdi+8];
        // mov dword [rdi+16], 0x9F80; ldmxcsr [rdi+16]; stmxcsr [rdi+20]; fxsave [rdi+0x200]; hlt
        var code: [UInt8] = [0x48, 0xC7, 0xC7, 0x00, 0x04, 0x20, 0x00, 0xDB, 0xE3, 0x66, 0xC7, 0x07, 0x7F, 0x02]
        code += [0xD9, 0x2F, 0xD9, 0x7F, 0x08, 0xC7, 0x47, 0x10, 0x80, 0x9F, 0x00, 0x00]
        code += [0x0F, 0xAE, 0x57, 0x10, 0x0F, 0xAE, 0x5F, 0x14, 0x0F, 0xAE, 0x87, 0x00, 0x02, 0x00, 0x00, 0xF4]
        let machine = try SoftCPUTestMachine(code: code)
        try machine.memory.fill(0xEE, at: GuestAddress(0x200600), count: 512)
        #expect(try machine.runToHalt() == ["halt"])
        #expect(try machine.memory.read(UInt16.self, at: GuestAddress(0x200408)) == 0x027F)
        #expect(try machine.memory.read(UInt32.self, at: GuestAddress(0x200414)) == 0x9F80)
        let area = try machine.memory.readBytes(at: GuestAddress(0x200600), count: 512)
        #expect(UInt16(area[0]) | UInt16(area[1]) << 8 == 0x027F)                 // FCW
        #expect(area[2] == 0 && area[3] == 0 && area[4] == 0)                      // FSW, abridged tag word: all empty
        #expect(area[24...27].elementsEqual([0x80, 0x9F, 0, 0]))                   // MXCSR
        #expect(area[28...31].elementsEqual([0xFF, 0xFF, 0, 0]))                   // MXCSR_MASK
        #expect(area[416...].allSatisfy { $0 == 0xEE })                            // bytes FXSAVE never writes
        #expect(try machine.vcpu.fpu().mxcsr == 0x9F80)
    }

    @Test func misalignedFXSAVEAndBadMXCSRFault() throws {
        // fxsave [0x200008] (misaligned) with no IDT: #GP, then a triple fault.
        let misaligned = try SoftCPUTestMachine(code: [0x0F, 0xAE, 0x04, 0x25, 0x08, 0x00, 0x20, 0x00])
        #expect(try misaligned.runToHalt() == ["shutdown"])
        #expect(try misaligned.vcpu.registers().rip == SoftCPUTestMachine.codeBase)
        // ldmxcsr from a dword with reserved bit 16 set.
        let reserved = try SoftCPUTestMachine(code: [0xC7, 0x04, 0x25, 0, 0, 0x20, 0, 0, 0, 1, 0, 0x0F, 0xAE, 0x14, 0x25, 0, 0, 0x20, 0])
        #expect(try reserved.runToHalt() == ["shutdown"])
    }

    @Test func taskSwitchedMakesFloatingPointUnavailable() throws {
        let machine = try SoftCPUTestMachine(code: [0xDB, 0xE3], idtLimit: 0xFFF)
        // #NM (vector 7) handler: HLT at +0x10.
        try machine.memory.write([UInt8](repeating: 0x90, count: 14) + [0xF4], at: GuestAddress(SoftCPUTestMachine.codeBase + 2))
        try machine.installGate(vector: 7, handler: SoftCPUTestMachine.codeBase + 0x10)
        var special = try machine.vcpu.specialRegisters()
        special.cr0 |= ControlRegister.cr0TS
        try machine.vcpu.setSpecialRegisters(special)
        #expect(try machine.runToHalt() == ["halt"])
        #expect(try machine.vcpu.registers().rip == SoftCPUTestMachine.codeBase + 0x11)
    }
}
