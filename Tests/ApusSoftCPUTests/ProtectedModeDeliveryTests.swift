import ApusCore
import ApusSoftCPU
import Testing

/// Interrupt delivery and IRET outside long mode (SDM Vol. 3, 6.12 and IRET): 286 gates, task gates and
/// virtual-8086 mode, which this CPU refuses with a named fault. Ring-3 round trips are run end to end by the
/// isa-pm32 and isa-long guests (BuiltInGuestTests).
@Suite struct ProtectedModeDeliveryTests {
    /// INT 0x41 through a 286 interrupt gate pushes three 16-bit words and clears IF.
    @Test func a286GatePushesA16BitFrame() throws {
        let machine = try LegacyModeMachine(.protected32, code: [0xFB, 0xCD, 0x41, 0xF4])   // sti; int 41h
        let handler = LegacyModeMachine.stubs + 0x41
        try machine.memory.write(handler & 0xFFFF | 0x08 << 16 | 0x86 << 40, at: GuestAddress(0x800 + 0x41 * 8))
        #expect(try machine.run() == 0x41)
        let registers = try machine.registers
        #expect(registers.rsp == 0x8000 - 6, "IP, CS and FLAGS as words")
        #expect(registers.rflags & 0x200 == 0, "an interrupt gate clears IF")
        #expect(try machine.memory.read(UInt16.self, at: GuestAddress(0x8000 - 6)) == 0x1003, "the return IP")
        #expect(try machine.memory.read(UInt16.self, at: GuestAddress(0x8000 - 4)) == 0x08)
    }

    /// A task gate would switch tasks, which is not modelled: the guest gets #GP(vector * 8 + 2).
    @Test func aTaskGateIsAGeneralProtectionFault() throws {
        let machine = try LegacyModeMachine(.protected32, code: [0xCD, 0x40, 0xF4])
        try machine.memory.write(UInt64(0x30) << 16 | 0x85 << 40, at: GuestAddress(0x800 + 0x40 * 8))
        #expect(try machine.run() == 13)
        #expect(try machine.memory.read(UInt32.self, at: GuestAddress(try machine.registers.rsp)) == 0x40 * 8 + 2)
    }

    /// IRET with EFLAGS.VM in its image (a return into virtual-8086 mode) and IRET with NT set (a return to another
    /// task) raise #UD and leave the stack as it was, so the handler sees the instruction that asked.
    @Test func iretIntoVirtual8086ModeOrAnotherTaskIsRefused() throws {
        let intoV86: [UInt8] = [0x68, 0x02, 0x00, 0x02, 0x00, 0x6A, 0x08, 0x68, 0x00, 0x20, 0x00, 0x00, 0xCF, 0xF4]
        let v86 = try LegacyModeMachine(.protected32, code: intoV86)
        #expect(try v86.run() == 6)
        #expect(try v86.memory.read(UInt32.self, at: GuestAddress(try v86.registers.rsp)) == 0x100C, "IRET's address")
        #expect(try v86.registers.rsp == 0x8000 - 12 - 12, "the three pushed dwords stay, under the #UD frame")

        let nestedTask: [UInt8] = [0x9C, 0x81, 0x0C, 0x24, 0x00, 0x40, 0x00, 0x00, 0x9D, 0xCF, 0xF4]
        let task = try LegacyModeMachine(.protected32, code: nestedTask)
        #expect(try task.run() == 6)
    }

    /// At CPL 0 IRET may change IOPL (at CPL 3 it may not: the isa-pm32 and isa-long guests check that).
    @Test func iretAtRingZeroRestoresIOPL() throws {
        // push 3002h (IOPL 3); push cs; push offset of the second hlt; iret
        let code: [UInt8] = [0x68, 0x02, 0x30, 0x00, 0x00, 0x0E, 0x68, 0x0D, 0x10, 0x00, 0x00, 0xCF, 0xF4, 0xF4]
        let machine = try LegacyModeMachine(.protected32, code: code)
        #expect(try machine.run() == nil)
        #expect(try machine.registers.rip == 0x100E)
        #expect(try machine.registers.rflags & 0x3000 == 0x3000)
    }
}

/// FOP, FIP and FDP: kept for the last non-control x87 instruction and stored by FNSTENV/FXSAVE in the layout of the
/// mode (SDM Vol. 1, 8.1.8-8.1.10 and Figures 8-9 to 8-12).
@Suite struct X87PointerTests {
    @Test func protectedModeEnvironmentCarriesTheLastInstruction() throws {
        let code: [UInt8] = [
            0xDD, 0x05, 0x00, 0x40, 0x00, 0x00,     // 1000: fld qword [4000h]     FOP 505h
            0xD9, 0xE0,                             // 1006: fchs                  FOP 1E0h, FDP unchanged
            0xD9, 0x3D, 0x10, 0x40, 0x00, 0x00,     // 1008: fnstcw [4010h]        control: pointers unchanged
            0xD9, 0x35, 0x00, 0x50, 0x00, 0x00,     // 100E: fnstenv [5000h]
            0xF4,
        ]
        let machine = try LegacyModeMachine(.protected32, code: code)
        #expect(try machine.run() == nil)
        let env = try machine.memory.readBytes(at: GuestAddress(0x5000), count: 28)
        func dword(_ offset: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(env[offset + $1]) << (8 * UInt32($1)) } }
        #expect(dword(12) == 0x1006, "FIP: FCHS")
        #expect(dword(16) == 0x01E0 << 16, "FOP above FCS (stored as zero: CPUID.7:EBX[13])")
        #expect(dword(20) == 0x4000, "FDP: FLD's operand")
        #expect(dword(24) & 0xFFFF == 0, "FDS")
    }

    @Test func realModeEnvironmentHoldsLinearPointers() throws {
        let code: [UInt8] = [
            0xB8, 0x00, 0x02, 0x8E, 0xD8,           // mov ax, 200h; mov ds, ax
            0xDD, 0x06, 0x34, 0x00,                 // 1005: fld qword [34h]   linear 2034h, FOP 506h
            0x31, 0xC0, 0x8E, 0xD8,                 // xor ax, ax; mov ds, ax
            0xD9, 0x36, 0x00, 0x50,                 // fnstenv [5000h]: 14 bytes
            0xF4,
        ]
        let machine = try LegacyModeMachine(.real, code: code)
        #expect(try machine.run() == nil)
        let words = try (0..<7).map { try machine.memory.read(UInt16.self, at: GuestAddress(0x5000 + UInt64($0) * 2)) }
        #expect(words[3] == 0x1005, "FIP bits 15-0")
        #expect(words[4] == 0x0506, "FIP bits 19-16 (zero) above FOP")
        #expect(words[5] == 0x2034, "FDP bits 15-0 of the linear address")
        #expect(words[6] == 0x0000, "FDP bits 19-16")
    }

    @Test func fldenvRestoresThePointersFnstenvThenStores() throws {
        var environment = [UInt8](repeating: 0, count: 28)
        func put(_ value: UInt32, _ offset: Int) { for i in 0..<4 { environment[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(i))) } }
        put(0xFFFF_037F, 0); put(0xFFFF_0000, 4); put(0xFFFF_FFFF, 8)
        put(0x0012_3456, 12); put(0x0345 << 16, 16); put(0x0065_4321, 20)
        let code: [UInt8] = [0xD9, 0x25, 0x00, 0x40, 0x00, 0x00,   // fldenv [4000h]
                             0xD9, 0x35, 0x00, 0x50, 0x00, 0x00,   // fnstenv [5000h]
                             0xF4]
        let machine = try LegacyModeMachine(.protected32, code: code)
        try machine.memory.write(environment, at: GuestAddress(0x4000))
        #expect(try machine.run() == nil)
        let stored = try machine.memory.readBytes(at: GuestAddress(0x5000 + 12), count: 12)
        #expect(stored == Array(environment[12..<24]))
    }
}
