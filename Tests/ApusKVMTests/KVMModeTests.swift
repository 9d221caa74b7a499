import ApusCore
import ApusKVM
import Testing

/// Guests entered directly in 32-bit protected mode and 64-bit long mode.
@Suite struct KVMModeTests {
    static let entry: UInt64 = 0x10000

    @Test func protectedMode32() throws {
        // mov eax, 0x12345678; out 0xF4, eax; hlt
        let code: [UInt8] = [0xB8, 0x78, 0x56, 0x34, 0x12, 0xE7, 0xF4, 0xF4]
        guard let t = try KVMTestMachine.make("protectedMode32", code: code, at: Self.entry) else { return }
        try GuestModes.enterProtectedMode(t.vcpu, memory: t.memory, entry: Self.entry)
        let write = try t.vcpu.run().portIO()
        #expect(write.port == 0xF4 && write.size == 4 && write.value() == 0x1234_5678)
        guard case .halt = try t.vcpu.run() else { Issue.record("expected HLT"); return }
        let special = try t.vcpu.specialRegisters()
        #expect(special.cs.selector == 0x08 && special.cs.db && !special.cs.l)
        #expect(special.cr0 & ControlRegister.cr0PE != 0)
        #expect(try t.vcpu.registers().rip == Self.entry + UInt64(code.count))
    }

    @Test func longMode64() throws {
        // mov rax, 0x1122334455667788; mov [0x2000], rax; out 0xF4, eax; hlt
        let code: [UInt8] = [0x48, 0xB8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
                             0x48, 0x89, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00,
                             0xE7, 0xF4, 0xF4]
        guard let t = try KVMTestMachine.make("longMode64", code: code, at: Self.entry) else { return }
        try GuestModes.enterLongMode(t.vcpu, memory: t.memory, entry: Self.entry)
        let write = try t.vcpu.run().portIO()
        #expect(write.port == 0xF4 && write.size == 4 && write.value() == 0x5566_7788)
        guard case .halt = try t.vcpu.run() else { Issue.record("expected HLT"); return }
        #expect(try t.memory.read(UInt64.self, at: GuestAddress(0x2000)) == 0x1122_3344_5566_7788)
        #expect(try t.vcpu.registers().rax == 0x1122_3344_5566_7788)
        let special = try t.vcpu.specialRegisters()
        #expect(special.cs.l)
        #expect(special.efer & ControlRegister.eferLMA != 0)
    }
}
