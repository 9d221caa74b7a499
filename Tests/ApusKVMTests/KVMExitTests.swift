import ApusCore
import ApusKVM
import Testing

/// Tiny real-mode guests, hand-assembled, and the exits KVM reports for them.
@Suite struct KVMExitTests {
    @Test func portWriteReportsPortSizeDirectionAndData() throws {
        // mov al, 0x41; out 0xF4, al; hlt
        guard let t = try KVMTestMachine.make("portWrite", code: [0xB0, 0x41, 0xE6, 0xF4, 0xF4]) else { return }
        let write = try t.vcpu.run().portIO()
        #expect(write.port == 0xF4)
        #expect(write.size == 1)
        #expect(write.count == 1)
        #expect(write.direction == .write)
        #expect(write.value() == 0x41)
        guard case .halt = try t.vcpu.run() else { Issue.record("expected HLT after the write"); return }
    }

    @Test func wordWriteUsesTheDXPort() throws {
        // mov dx, 0x3F8; mov ax, 0xBEEF; out dx, ax; hlt
        let code: [UInt8] = [0xBA, 0xF8, 0x03, 0xB8, 0xEF, 0xBE, 0xEF, 0xF4]
        guard let t = try KVMTestMachine.make("wordWrite", code: code) else { return }
        let write = try t.vcpu.run().portIO()
        #expect(write.port == 0x3F8 && write.size == 2 && write.value() == 0xBEEF)
    }

    @Test func portReadCompletesWithTheValueGivenBeforeTheNextRun() throws {
        // in al, 0x60; mov [0x500], al; hlt
        let code: [UInt8] = [0xE4, 0x60, 0xA2, 0x00, 0x05, 0xF4]
        guard let t = try KVMTestMachine.make("portRead", code: code) else { return }
        let read = try t.vcpu.run().portIO()
        #expect(read.port == 0x60 && read.size == 1 && read.direction == .read)
        read.data[0] = 0x99
        guard case .halt = try t.vcpu.run() else { Issue.record("expected HLT after the read"); return }
        #expect(try t.memory.read(UInt8.self, at: GuestAddress(0x500)) == 0x99)
        #expect(try t.vcpu.registers().rax & 0xFF == 0x99)
    }

    @Test func repeatedStringOutputComesAsOneExitWithACount() throws {
        // mov si, 0x600; mov cx, 3; mov dx, 0xF4; rep outsb; hlt
        let code: [UInt8] = [0xBE, 0x00, 0x06, 0xB9, 0x03, 0x00, 0xBA, 0xF4, 0x00, 0xF3, 0x6E, 0xF4]
        guard let t = try KVMTestMachine.make("repOutsb", code: code) else { return }
        try t.memory.write([0x11, 0x22, 0x33], at: GuestAddress(0x600))
        var written: [UInt8] = []
        while written.count < 3 {
            let access = try t.vcpu.run().portIO()
            #expect(access.port == 0xF4 && access.size == 1 && access.direction == .write)
            written += (0..<access.count).map { UInt8(access.value($0)) }
        }
        #expect(written == [0x11, 0x22, 0x33])
        guard case .halt = try t.vcpu.run() else { Issue.record("expected HLT after rep outsb"); return }
    }

    @Test func accessToUnmappedMemoryIsAnMMIOExit() throws {
        // mov byte [fs:0x10], 0x5A; mov al, [fs:0x11]; hlt   (FS base at 0xD000_0000, where there is no RAM)
        let code: [UInt8] = [0x64, 0xC6, 0x06, 0x10, 0x00, 0x5A, 0x64, 0xA0, 0x11, 0x00, 0xF4]
        guard let t = try KVMTestMachine.make("mmio", code: code) else { return }
        var special = try t.vcpu.specialRegisters()
        special.fs = Segment(base: 0xD000_0000, limit: 0xFFFF, selector: 0, type: 3)
        try t.vcpu.setSpecialRegisters(special)
        let write = try t.vcpu.run().mmio()
        #expect(write.address == GuestAddress(0xD000_0010) && write.size == 1 && write.direction == .write)
        #expect(write.data[0] == 0x5A)
        let read = try t.vcpu.run().mmio()
        #expect(read.address == GuestAddress(0xD000_0011) && read.size == 1 && read.direction == .read)
        read.data[0] = 0x77
        guard case .halt = try t.vcpu.run() else { Issue.record("expected HLT after the MMIO read"); return }
        #expect(try t.vcpu.registers().rax & 0xFF == 0x77)
    }

    @Test func tripleFaultIsAShutdown() throws {
        // ud2 in long mode with an empty IDT: the #UD cannot be delivered (#GP), nor that (#DF): a triple fault.
        // (Real mode is no use here: the nested host's emulator gives up on a real-mode INT with an empty IVT.)
        let entry: UInt64 = 0x10000
        guard let t = try KVMTestMachine.make("tripleFault", code: [0x0F, 0x0B, 0xF4], at: entry) else { return }
        try GuestModes.enterLongMode(t.vcpu, memory: t.memory, entry: entry)
        var special = try t.vcpu.specialRegisters()
        special.idt = DescriptorTable(base: 0, limit: 0)
        try t.vcpu.setSpecialRegisters(special)
        let exit = try t.vcpu.run()
        guard case .shutdown = exit else { Issue.record("expected shutdown, got \(exit)"); return }
    }
}
