import ApusCore
import ApusSoftCPU
import Testing

/// POPCNT (F3 0F B8), worked by hand from the SDM: the count of set bits at each operand size, ZF for a zero source,
/// the other arithmetic flags cleared, and #UD without the F3 prefix.
@Suite struct PopulationCountTests {
    @Test func countsBitsAndSetsOnlyZFInProtectedMode() throws {
        let code: [UInt8] = [
            0x68, 0xD7, 0x08, 0, 0, 0x9D,           // push 8D7h; popfd: OF SF ZF AF PF CF all set
            0xB8, 0x01, 0x00, 0xF0, 0xF0,           // mov eax,F0F00001h
            0xF3, 0x0F, 0xB8, 0xC8,                 // popcnt ecx,eax: 9
            0x9C, 0x5B,                             // pushfd; pop ebx
            0x31, 0xF6,                             // xor esi,esi
            0xBF, 0x55, 0, 0, 0,                    // mov edi,55h
            0xF3, 0x0F, 0xB8, 0xFE,                 // popcnt edi,esi: 0, ZF
            0x9C, 0x5D,                             // pushfd; pop ebp
            0xBA, 0xFF, 0xFF, 0x34, 0x12,           // mov edx,1234FFFFh
            0x66, 0xF3, 0x0F, 0xB8, 0xD0,           // popcnt dx,ax: 1, the upper half of EDX kept
            0xF3, 0x0F, 0xB8, 0x05, 0x00, 0x20, 0, 0,   // popcnt eax,[2000h]
            0xF4,
        ]
        let machine = try LegacyModeMachine(.protected32, code: code)
        try machine.memory.write(UInt32(0x8000_7FFF), at: GuestAddress(0x2000))
        #expect(try machine.run() == nil)
        let r = try machine.registers
        #expect(r.rcx == 9)
        #expect(r.rbx & 0x8D5 == 0, "OF SF ZF AF PF CF cleared for a nonzero source")
        #expect(r.rdi == 0)
        #expect(r.rbp & 0x8D5 == 0x40, "ZF alone for a zero source")
        #expect(r.rdx == 0x1234_0001)
        #expect(r.rax == 16)
    }

    @Test func realModeCountsSixteenBits() throws {
        let code: [UInt8] = [
            0x66, 0xB8, 0xFF, 0xFF, 0xFF, 0x00,     // mov eax,00FFFFFFh
            0xF3, 0x0F, 0xB8, 0xC8,                 // popcnt cx,ax: 16
            0xF3, 0x66, 0x0F, 0xB8, 0xD0,           // popcnt edx,eax: 24 (the prefixes in either order)
            0xF4,
        ]
        let machine = try LegacyModeMachine(.real, code: code)
        #expect(try machine.run() == nil)
        let r = try machine.registers
        #expect(r.rcx & 0xFFFF == 16)
        #expect(r.rdx == 24)
    }

    @Test func withoutF3ItIsInvalid() throws {
        for code: [UInt8] in [[0x0F, 0xB8, 0xC8], [0xF2, 0x0F, 0xB8, 0xC8], [0x66, 0x0F, 0xB8, 0xC8]] {
            let machine = try LegacyModeMachine(.protected32, code: code + [0xF4])
            #expect(try machine.run() == 6, "\(code) is #UD")
        }
    }
}
