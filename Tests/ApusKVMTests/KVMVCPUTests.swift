import ApusCore
import ApusKVM
import Foundation
import Testing

@Suite struct KVMVCPUTests {
    @Test func absentDeviceIsReportedWithAReason() {
        guard case .unusable(let reason) = KVMHypervisor(devicePath: "/nonexistent/kvm").availability() else {
            Issue.record("a missing device must be unusable")
            return
        }
        #expect(reason.contains("/nonexistent/kvm does not exist"))
    }

    @Test func portWriteReadAndHalt() throws {
        // mov al, 0x41; out 0xF4, al; in al, 0x60; mov [0x500], al; hlt
        let code: [UInt8] = [0xB0, 0x41, 0xE6, 0xF4, 0xE4, 0x60, 0xA2, 0x00, 0x05, 0xF4]
        guard let (machine, vcpu) = try kvmMachine(code: code, test: "portWriteReadAndHalt") else { return }
        guard case .portIO(let write) = try vcpu.run() else { Issue.record("expected port I/O"); return }
        #expect(write.port == 0xF4 && write.size == 1 && write.direction == .write && write.data[0] == 0x41)
        guard case .portIO(let read) = try vcpu.run() else { Issue.record("expected port I/O"); return }
        #expect(read.port == 0x60 && read.direction == .read)
        read.data[0] = 0x99
        guard case .halt = try vcpu.run() else { Issue.record("expected HLT"); return }
        #expect(try machine.memory.read(UInt8.self, at: GuestAddress(0x500)) == 0x99)
    }

    @Test func unmappedMemoryGivesAnMMIOExit() throws {
        // mov eax, 0xD0000000 via 32-bit operand in real mode is awkward: use fs base. mov byte [fs:0], 0x5A
        guard let (_, vcpu) = try kvmMachine(code: [0x64, 0xC6, 0x06, 0x00, 0x00, 0x5A, 0xF4], test: "mmio") else { return }
        var special = try vcpu.specialRegisters()
        special.fs = Segment(base: 0xD000_0000, limit: 0xFFFF, selector: 0, type: 3)
        try vcpu.setSpecialRegisters(special)
        guard case .mmio(let access) = try vcpu.run() else { Issue.record("expected MMIO"); return }
        #expect(access.address == GuestAddress(0xD000_0000) && access.size == 1 && access.direction == .write)
        #expect(access.data[0] == 0x5A)
    }

    @Test func stateRoundTrips() throws {
        guard let (_, vcpu) = try kvmMachine(code: [0xF4], test: "stateRoundTrips") else { return }
        var registers = try vcpu.registers()
        registers.rbx = 0x1122_3344_5566_7788
        registers.r15 = 0xFEED
        try vcpu.setRegisters(registers)
        #expect(try vcpu.registers() == registers)
        var fpu = try vcpu.fpu()
        fpu.setXMM(3, low: 0xABCD, high: 0x1234)
        fpu.mxcsr = 0x1F80
        try vcpu.setFPU(fpu)
        #expect(try vcpu.fpu().xmm(3) == (0xABCD, 0x1234))
        try vcpu.setMSRs([MSR.kernelGSBase: 0xFFFF_8000_0000_1000])
        #expect(try vcpu.msrs([MSR.kernelGSBase])[MSR.kernelGSBase] == 0xFFFF_8000_0000_1000)
        let state = try vcpu.captureState()
        try vcpu.restoreState(state)
        #expect(try vcpu.captureState().registers == state.registers)
    }

    @Test func aKickFromAnotherThreadInterruptsASpinningGuest() throws {
        guard let (_, vcpu) = try kvmMachine(code: [0xEB, 0xFE], test: "kick") else { return }  // jmp $
        let kicker = vcpu.kicker
        let thread = Thread {
            Thread.sleep(forTimeInterval: 0.05)
            kicker.kick()
        }
        thread.start()
        // If the kick were lost this would spin forever; the suite's time limit is the bound.
        guard case .interrupted = try vcpu.run() else { Issue.record("expected .interrupted"); return }
        // A kick before run() is not lost either.
        vcpu.kicker.kick()
        guard case .interrupted = try vcpu.run() else { Issue.record("expected .interrupted"); return }
    }
}
