import ApusCore
import ApusSoftCPU
import Testing

/// Instructions the opcode-map coverage found missing, checked against values worked by hand from the SDM: LAR, LSL
/// and ARPL; the undocumented x87 aliases FSTP1, FCOMP5 and FFREEP; the 16-bit (14-byte) FNSTENV layout; and the
/// reserved register forms of 0F AE, which are #UD.
@Suite struct MapGapInstructionTests {
    @Test func larLslAndArplInProtectedMode() throws {
        let code: [UInt8] = [
            0xB8, 0x10, 0, 0, 0,                    // mov eax,10h (flat data, 0x00CF9300_0000FFFF)
            0x0F, 0x02, 0xC8,                       // lar ecx,eax
            0x0F, 0x03, 0xD0,                       // lsl edx,eax
            0xBB, 0x20, 0, 0, 0,                    // mov ebx,20h (a call gate)
            0xBE, 0x55, 0, 0, 0,                    // mov esi,55h
            0x0F, 0x03, 0xF3,                       // lsl esi,ebx: gates have no limit, ZF=0
            0x0F, 0x94, 0x05, 0x00, 0x20, 0, 0,     // setz [2000h]
            0x0F, 0x02, 0xFB,                       // lar edi,ebx: a call gate's rights
            0x0F, 0x94, 0x05, 0x01, 0x20, 0, 0,     // setz [2001h]
            0xBB, 0x13, 0, 0, 0,                    // mov ebx,13h
            0x63, 0xD8,                             // arpl ax,bx: RPL 0 < 3
            0x0F, 0x94, 0x05, 0x02, 0x20, 0, 0,     // setz [2002h]
            0xBB, 0x38, 0, 0, 0,                    // mov ebx,38h (past the GDT's limit)
            0x0F, 0x02, 0xEB,                       // lar ebp,ebx: ZF=0, EBP unchanged
            0x0F, 0x94, 0x05, 0x03, 0x20, 0, 0,     // setz [2003h]
            0xF4,
        ]
        let machine = try LegacyModeMachine(.protected32, code: code)
        try machine.memory.write([UInt8](repeating: 0xAA, count: 4), at: GuestAddress(0x2000))
        #expect(try machine.run() == nil)
        let r = try machine.registers
        #expect(r.rcx == 0x00C0_9300, "G, D/B, P, S and type 3 of the flat data descriptor")
        #expect(r.rdx == 0xFFFF_FFFF, "the byte-granular limit of a 4 GiB segment")
        #expect(r.rsi == 0x55, "LSL of a gate writes nothing")
        #expect(r.rdi == 0x8C00, "present, DPL 0, type C (32-bit call gate)")
        #expect(r.rax & 0xFFFF == 0x13)
        #expect(try machine.memory.readBytes(at: GuestAddress(0x2000), count: 4) == [0, 1, 1, 0])
    }

    @Test func realModeHasNoLARLSLOrARPL() throws {
        for code: [UInt8] in [[0x0F, 0x02, 0xC8], [0x0F, 0x03, 0xC8], [0x63, 0xD8]] {
            let machine = try LegacyModeMachine(.real, code: code + [0xF4])
            #expect(try machine.run() == 6, "\(code) is #UD in real-address mode")
        }
    }

    @Test func undocumentedX87AliasesAndThe16BitEnvironment() throws {
        let code: [UInt8] = [
            0xDB, 0xE3,                             // fninit
            0xD9, 0xE8, 0xD9, 0xEB,                 // fld1; fldpi
            0xD9, 0xD9,                             // fstp1 st(1): ST(1) = pi, pop
            0xD9, 0x1D, 0x00, 0x20, 0, 0,           // fstp dword [2000h]
            0xD9, 0xE8, 0xD9, 0xEE,                 // fld1; fldz
            0xDE, 0xD1,                             // fcomp5 st(1): 0 < 1 sets C0, pop
            0xDF, 0xE0, 0x89, 0xC3,                 // fnstsw ax; mov ebx,eax
            0xD9, 0xEE,                             // fldz
            0xDF, 0xC1,                             // ffreep st(1): both registers empty, TOP 7
            0x66, 0xD9, 0x35, 0x00, 0x30, 0, 0,     // o16 fnstenv [3000h]: the 14-byte layout
            0xF4,
        ]
        let machine = try LegacyModeMachine(.protected32, code: code)
        try machine.memory.write([UInt8](repeating: 0xAA, count: 16), at: GuestAddress(0x3000))
        #expect(try machine.run() == nil)
        #expect(try machine.memory.read(UInt32.self, at: GuestAddress(0x2000)) == 0x4049_0FDB, "pi as a float")
        let status = try machine.registers.rbx & 0xFFFF
        #expect(status & 0x4700 == 0x0100, "FCOMP5 compared like FCOMP: C0 only, got \(status)")
        #expect((status >> 11) & 7 == 7, "and popped once")
        let environment = try machine.memory.readBytes(at: GuestAddress(0x3000), count: 16)
        #expect(environment[0] == 0x7F && environment[1] == 0x03, "control word")
        #expect((UInt16(environment[3]) << 8 | UInt16(environment[2])) >> 11 & 7 == 7, "TOP in the status word")
        #expect(environment[4] == 0xFF && environment[5] == 0xFF, "every register empty")
        #expect(Array(environment[6..<14]) == [0x18, 0x10, 0, 0, 0x00, 0x20, 0, 0],
                "FIP of the last non-control instruction (FLDZ at 1018h; FFREEP is a control one), FCS 0, FDP of the FSTP to 2000h, FDS 0")
        #expect(environment[14] == 0xAA && environment[15] == 0xAA, "14 bytes, no more")
    }

    /// 0F AE /4-/7 with a memory operand all ran as STMXCSR: CLFLUSH wrote MXCSR over the line it flushed.
    @Test func clflushLeavesMemoryAloneAndXSAVEIsUD() throws {
        let clflush = try LegacyModeMachine(.protected32, code: [0x0F, 0xAE, 0x3D, 0x00, 0x20, 0, 0, 0xF4])
        try clflush.memory.write(UInt32(0x1234_5678), at: GuestAddress(0x2000))
        #expect(try clflush.run() == nil)
        #expect(try clflush.memory.read(UInt32.self, at: GuestAddress(0x2000)) == 0x1234_5678)
        for reg: UInt8 in [4, 5, 6] {   // XSAVE, XRSTOR, XSAVEOPT: not advertised, CR4.OSXSAVE clear
            let machine = try LegacyModeMachine(.protected32, code: [0x0F, 0xAE, 0x05 | reg << 3, 0x00, 0x20, 0, 0, 0xF4])
            #expect(try machine.run() == 6, "0F AE /\(reg)")
        }
    }

    @Test func reservedRegisterFormsOfGroup15AreUD() throws {
        for modrm: UInt8 in [0xC0, 0xC8, 0xD0, 0xD8, 0xE0] {
            let machine = try LegacyModeMachine(.protected32, code: [0x0F, 0xAE, modrm, 0xF4])
            #expect(try machine.run() == 6, "0F AE \(modrm)")
        }
        let fence = try LegacyModeMachine(.protected32, code: [0x0F, 0xAE, 0xF0, 0xF4])
        #expect(try fence.run() == nil, "MFENCE still runs")
    }
}
