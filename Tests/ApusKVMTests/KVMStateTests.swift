import ApusCore
import ApusKVM
import Testing

/// Architectural state written to KVM comes back unchanged, and state the guest produced is read correctly.
@Suite struct KVMStateTests {
    @Test func registersRoundTrip() throws {
        guard let t = try KVMTestMachine.make("registersRoundTrip", code: [0xF4]) else { return }
        var registers = Registers()
        for index in 0..<16 { registers[index] = 0x1111_0000_0000_0000 &* UInt64(index + 1) | UInt64(index) }
        registers.rip = 0x8000
        registers.rflags = 0x202
        try t.vcpu.setRegisters(registers)
        #expect(try t.vcpu.registers() == registers)
    }

    @Test func guestWrittenRegistersAreRead() throws {
        // mov bx, 0x1234; mov si, 0xABCD; hlt
        guard let t = try KVMTestMachine.make("guestRegisters", code: [0xBB, 0x34, 0x12, 0xBE, 0xCD, 0xAB, 0xF4])
        else { return }
        guard case .halt = try t.vcpu.run() else { Issue.record("expected HLT"); return }
        let registers = try t.vcpu.registers()
        #expect(registers.rbx & 0xFFFF == 0x1234 && registers.rsi & 0xFFFF == 0xABCD)
        #expect(registers.rip == 0x8007)
    }

    @Test func specialRegistersRoundTrip() throws {
        guard let t = try KVMTestMachine.make("specialRegistersRoundTrip", code: [0xF4]) else { return }
        var special = try t.vcpu.specialRegisters()
        special.gdt = DescriptorTable(base: 0x1000, limit: 0x27)
        special.idt = DescriptorTable(base: 0x2000, limit: 0xFF)
        special.fs = Segment.realMode(selector: 0x1234)
        special.gs = Segment(base: 0x5_0000, limit: 0xFFFF, selector: 0x5000, type: 3)
        special.ldt = Segment(base: 0, limit: 0, selector: 0, type: 2, present: false, s: false, unusable: true)
        special.cr2 = 0xDEAD_B000
        special.cr0 |= ControlRegister.cr0MP
        try t.vcpu.setSpecialRegisters(special)
        let back = try t.vcpu.specialRegisters()
        #expect(back.gdt == special.gdt)
        #expect(back.idt == special.idt)
        #expect(back.fs == special.fs)
        #expect(back.gs == special.gs)
        #expect(back.ldt.unusable)
        #expect(back.cr2 == 0xDEAD_B000)
        #expect(back.cr0 == special.cr0)
        #expect(back.efer == special.efer)
        #expect(back.apicBase == special.apicBase)
    }

    @Test func fpuRoundTripsInTheFXSAVELayout() throws {
        guard let t = try KVMTestMachine.make("fpuRoundTrip", code: [0xF4]) else { return }
        var fpu = try t.vcpu.fpu()
        #expect(fpu.controlWord == 0x37F)  // KVM's reset state, as FNINIT leaves it
        fpu.setXMM(3, low: 0xABCD_0000_1234, high: 0x5678_0000_EF01)
        fpu.setXMM(15, low: 1, high: 2)
        fpu.mxcsr = 0x1FA0
        fpu.controlWord = 0x27F
        for i in 0..<10 { fpu.fxsave[32 + 16 * 2 + i] = UInt8(0x40 + i) }  // ST2/MM2
        try t.vcpu.setFPU(fpu)
        let back = try t.vcpu.fpu()
        #expect(back.xmm(3) == (0xABCD_0000_1234, 0x5678_0000_EF01))
        #expect(back.xmm(15) == (1, 2))
        #expect(back.mxcsr == 0x1FA0)
        #expect(back.controlWord == 0x27F)
        #expect(Array(back.fxsave[64..<74]) == (0..<10).map { UInt8(0x40 + $0) })
    }

    @Test func theGuestSeesTheMXCSRSetThroughSetFPU() throws {
        // stmxcsr [0x600]; out 0xF4, al   (at CPL 3, where the nested build hosts run SSE natively)
        let code: [UInt8] = [0x0F, 0xAE, 0x1C, 0x25, 0x00, 0x06, 0x00, 0x00, 0xE6, 0xF4]
        let entry: UInt64 = 0x10000
        guard let t = try KVMTestMachine.make("guestMXCSR", code: code, at: entry) else { return }
        try GuestModes.enterLongMode(t.vcpu, memory: t.memory, entry: entry, user: true)
        var special = try t.vcpu.specialRegisters()
        special.cr4 |= ControlRegister.cr4OSFXSR
        try t.vcpu.setSpecialRegisters(special)
        var fpu = try t.vcpu.fpu()
        #expect(fpu.fxsave[464..<512].allSatisfy { $0 == 0 })  // no host bookkeeping in the FXSAVE image
        fpu.mxcsr = 0x3F80
        try t.vcpu.setFPU(fpu)
        let exit = try t.vcpu.run()
        guard case .portIO = exit else { Issue.record("expected the port write, got \(exit)"); return }
        #expect(try t.memory.read(UInt32.self, at: GuestAddress(0x600)) == 0x3F80)
    }

    @Test func msrsRoundTripAndUnknownOnesAreOmitted() throws {
        guard let t = try KVMTestMachine.make("msrRoundTrip", code: [0xF4]) else { return }
        try t.vcpu.setMSRs([MSR.kernelGSBase: 0xFFFF_8000_0000_1000, MSR.sysenterEIP: 0xC010_0000])
        let values = try t.vcpu.msrs([MSR.kernelGSBase, MSR.sysenterEIP, 0x4B56_4DFF])
        #expect(values[MSR.kernelGSBase] == 0xFFFF_8000_0000_1000)
        #expect(values[MSR.sysenterEIP] == 0xC010_0000)
        #expect(values[0x4B56_4DFF] == nil)
    }

    @Test func capturedStateRestoresOnAFreshVCPU() throws {
        // mov ax, 0x0102; hlt
        guard let t = try KVMTestMachine.make("captureRestore", code: [0xB8, 0x02, 0x01, 0xF4]) else { return }
        guard case .halt = try t.vcpu.run() else { Issue.record("expected HLT"); return }
        let state = try t.vcpu.captureState()
        guard let u = try KVMTestMachine.make("captureRestore", code: [0xF4]) else { return }
        try u.vcpu.restoreState(state)
        let restored = try u.vcpu.captureState()
        #expect(restored.registers == state.registers)
        #expect(restored.specialRegisters == state.specialRegisters)
        #expect(restored.fpu == state.fpu)
    }
}
