import ApusCore
import ApusSoftCPU
import Foundation
import Testing

@Suite struct SoftVCPUTests {
    @Test func additionOverflowSetsTheSDMFlags() throws {
        // mov ecx, 0x7fffffff; add ecx, 1; hlt
        let machine = try SoftCPUTestMachine(code: [0xB9, 0xFF, 0xFF, 0xFF, 0x7F, 0x83, 0xC1, 0x01, 0xF4])
        #expect(try machine.runToHalt() == ["halt"])
        let registers = try machine.vcpu.registers()
        #expect(registers.rcx == 0x8000_0000)
        #expect(registers.rflags & 0x8D5 == 0x894)   // OF SF AF PF
        #expect(registers.rip == 0x100009)
    }

    @Test func portReadsCompleteOnTheNextRun() throws {
        // in al, 0x60; hlt
        let machine = try SoftCPUTestMachine(code: [0xE4, 0x60, 0xF4])
        guard case .portIO(let access) = try machine.vcpu.run() else { Issue.record("expected port I/O"); return }
        #expect(access.port == 0x60 && access.direction == .read && access.size == 1)
        access.data[0] = 0x99
        guard case .halt = try machine.vcpu.run() else { Issue.record("expected HLT"); return }
        #expect(try machine.vcpu.registers().rax & 0xFF == 0x99)
    }

    @Test func unmappedPhysicalMemoryIsAnMMIOExitAndReadsReplay() throws {
        // mov rbx, 0xD0000000; mov al, [rbx]; mov [rbx+1], al; hlt
        let code: [UInt8] = [0xBB, 0x00, 0x00, 0x00, 0xD0, 0x8A, 0x03, 0x88, 0x43, 0x01, 0xF4]
        let machine = try SoftCPUTestMachine(code: code)
        guard case .mmio(let read) = try machine.vcpu.run() else { Issue.record("expected MMIO"); return }
        #expect(read.address == GuestAddress(0xD000_0000) && read.direction == .read)
        read.data[0] = 0x5A
        guard case .mmio(let write) = try machine.vcpu.run() else { Issue.record("expected MMIO"); return }
        #expect(write.address == GuestAddress(0xD000_0001) && write.direction == .write && write.data[0] == 0x5A)
        guard case .halt = try machine.vcpu.run() else { Issue.record("expected HLT"); return }
    }

    @Test func divideErrorIsDeliveredThroughThe64BitIDT() throws {
        // xor ecx, ecx; div ecx; (handler at +0x10: hlt)
        var code: [UInt8] = [0x31, 0xC9, 0xF7, 0xF1]
        code += [UInt8](repeating: 0x90, count: 12) + [0xF4]
        let machine = try SoftCPUTestMachine(code: code, idtLimit: 0xFFF)
        try machine.installGate(vector: 0, handler: SoftCPUTestMachine.codeBase + 0x10)
        #expect(try machine.runToHalt() == ["halt"])
        let registers = try machine.vcpu.registers()
        #expect(registers.rip == SoftCPUTestMachine.codeBase + 0x11)
        // The frame: RIP of the faulting DIV (a fault restarts it), CS, RFLAGS, RSP, SS.
        #expect(try machine.memory.read(UInt64.self, at: GuestAddress(registers.rsp)) == SoftCPUTestMachine.codeBase + 2)
        #expect(try machine.memory.read(UInt64.self, at: GuestAddress(registers.rsp + 8)) == 0x08)
        #expect(try machine.memory.read(UInt64.self, at: GuestAddress(registers.rsp + 24)) == 0x80000)
    }

    @Test func pageFaultReportsAddressAndErrorCode() throws {
        // mov rax, 0x100000000 (not mapped by the loader's 4 GiB identity map); mov [rax], al; (handler +0x10: hlt)
        var code: [UInt8] = [0x48, 0xB8, 0, 0, 0, 0, 1, 0, 0, 0, 0x88, 0x00]
        code += [UInt8](repeating: 0x90, count: 4) + [0xF4]
        let machine = try SoftCPUTestMachine(code: code, idtLimit: 0xFFF)
        try machine.installGate(vector: 14, handler: SoftCPUTestMachine.codeBase + 0x10)
        #expect(try machine.runToHalt() == ["halt"])
        let registers = try machine.vcpu.registers()
        #expect(try machine.vcpu.specialRegisters().cr2 == 0x1_0000_0000)
        #expect(try machine.memory.read(UInt64.self, at: GuestAddress(registers.rsp)) == 2)   // W, not present
        #expect(try machine.memory.read(UInt64.self, at: GuestAddress(registers.rsp + 8)) == SoftCPUTestMachine.codeBase + 10)
    }

    @Test func anUndeliverableExceptionIsATripleFault() throws {
        let machine = try SoftCPUTestMachine(code: [0x0F, 0x0B])   // ud2 with an empty IDT
        #expect(try machine.runToHalt() == ["shutdown"])
    }

    @Test func codeWrittenAtRunTimeIsWhatRuns() throws {
        // mov byte [rip+1], 0xF4 ; then the byte after it (a NOP) has become HLT
        let machine = try SoftCPUTestMachine(code: [0xC6, 0x05, 0x00, 0x00, 0x00, 0x00, 0xF4, 0x90, 0x90])
        #expect(try machine.runToHalt() == ["halt"])
        #expect(try machine.vcpu.registers().rip == SoftCPUTestMachine.codeBase + 8)
    }

    @Test func aKickStopsASpinningGuest() throws {
        let machine = try SoftCPUTestMachine(code: [0xEB, 0xFE])   // jmp $
        let kicker = machine.vcpu.kicker
        Thread {
            Thread.sleep(forTimeInterval: 0.05)
            kicker.kick()
        }.start()
        guard case .interrupted = try machine.vcpu.run() else { Issue.record("expected .interrupted"); return }
    }

    @Test func stateSurvivesCaptureAndRestore() throws {
        let machine = try SoftCPUTestMachine(code: [0xB9, 0x05, 0, 0, 0, 0xF4])
        try machine.vcpu.setMSRs([MSR.lstar: 0xFFFF_FFFF_8100_0000])
        let state = try machine.vcpu.captureState()
        let other = try SoftCPUTestMachine(code: [0xF4])
        try other.vcpu.restoreState(state)
        // The TSC runs in real time, so it has moved on from the saved value; everything else is identical.
        var restored = try other.vcpu.captureState()
        var saved = state
        let savedTSC = saved.msrs.removeValue(forKey: MSR.tsc) ?? 0
        let restoredTSC = restored.msrs.removeValue(forKey: MSR.tsc) ?? 0
        #expect(restored == saved)
        #expect(restoredTSC >= savedTSC, "the TSC continues from the saved value")
        #expect(try other.vcpu.msrs([MSR.lstar, 0x1234]) == [MSR.lstar: 0xFFFF_FFFF_8100_0000])
    }

    @Test func anAnsweredReadIsSavedSoTheRestoredCPUDoesNotReadTheDeviceTwice() throws {
        // mov dx, 0x3fa; in al, dx; hlt: the machine is saved after the VMM answered the read but before the CPU
        // consumed it (a pause between the exit and the next run), as a UART's IIR read would be.
        let code: [UInt8] = [0x66, 0xBA, 0xFA, 0x03, 0xEC, 0xF4]
        let machine = try SoftCPUTestMachine(code: code)
        guard case .portIO(let access) = try machine.vcpu.run(), access.direction == .read else {
            Issue.record("expected the port read"); return
        }
        access.data[0] = 0x5A
        let state = try machine.vcpu.captureState()
        let other = try SoftCPUTestMachine(code: code)
        try other.vcpu.restoreState(state)
        let exit = try other.vcpu.run()
        #expect(exit.kind == "halt", "the restored CPU finished the IN without a second device read")
        #expect(try other.vcpu.registers().rax & 0xFF == 0x5A)
    }

    @Test func timeStampCounterRunsInRealTimeAndTakesWrites() throws {
        // rdtsc; shl rdx, 32; or rax, rdx; mov rbx, rax; hlt; then, after a host sleep, the same again into rcx.
        let read: [UInt8] = [0x0F, 0x31, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0]
        let machine = try SoftCPUTestMachine(code: read + [0x48, 0x89, 0xC3, 0xF4] + read + [0x48, 0x89, 0xC1, 0xF4])
        try machine.vcpu.setMSRs([MSR.tsc: 1 << 40])
        #expect(try machine.runToHalt() == ["halt"])
        Thread.sleep(forTimeInterval: 0.02)
        #expect(try machine.runToHalt() == ["halt"])
        let registers = try machine.vcpu.registers()
        #expect(registers.rbx >= 1 << 40, "a TSC write sets the counter")
        // A halted or sleeping vCPU retires no instructions, yet the counter (1 GHz in the default model) moved on
        // by at least the 20 ms the host slept.
        #expect(registers.rcx &- registers.rbx >= 20_000_000)
    }

    @Test func changedPageTablesAreSeenAfterAFlush() throws {
        // mov rax, [0x200008]; hlt; then again from the start after the host remaps 0x200000
        let code: [UInt8] = [0x48, 0x8B, 0x04, 0x25, 0x08, 0x00, 0x20, 0x00, 0xF4]
        let machine = try SoftCPUTestMachine(code: code)
        try machine.memory.write(UInt64(0x1111), at: GuestAddress(0x200008))
        try machine.memory.write(UInt64(0x2222), at: GuestAddress(0x000008))
        #expect(try machine.runToHalt() == ["halt"])
        #expect(try machine.vcpu.registers().rax == 0x1111)
        // Point the second 2 MiB page (PD entry 1) at physical 0 and reload CR3, as a guest would.
        try machine.memory.write(UInt64(0x83), at: GuestAddress(0xB008))
        var special = try machine.vcpu.specialRegisters()
        special.cr3 = 0x9000 | 0x8   // a different value forces the reload, like a PCID-less MOV CR3
        try machine.vcpu.setSpecialRegisters(special)
        var registers = try machine.vcpu.registers()
        registers.rip = SoftCPUTestMachine.codeBase
        try machine.vcpu.setRegisters(registers)
        #expect(try machine.runToHalt() == ["halt"])
        #expect(try machine.vcpu.registers().rax == 0x2222)
    }
}
