import ApusCore
import ApusSoftCPU
import Testing

/// The instructions of 16- and 32-bit code that 64-bit Linux never runs: BCD adjustments, PUSHA/POPA, segment
/// pushes and pops, moffs MOVs, LES, BOUND, INTO, SALC, INT1, far CALL and JMP (direct, through memory and through a
/// call gate). Expected values are the SDM's (Vol. 2) worked by hand.
@Suite struct LegacyInstructionTests {
    @Test func decimalAndASCIIAdjustmentsInRealMode() throws {
        let code: [UInt8] = [
            0xB0, 0x79, 0x04, 0x35, 0x27, 0x88, 0xC3,           // mov al,79h; add al,35h; daa; mov bl,al
            0xB0, 0x35, 0x2C, 0x47, 0x2F, 0x88, 0xC7,           // mov al,35h; sub al,47h; das; mov bh,al
            0xB8, 0x09, 0x00, 0x04, 0x05, 0x37, 0x89, 0xC1,     // mov ax,9; add al,5; aaa; mov cx,ax
            0xB8, 0x02, 0x01, 0x2C, 0x05, 0x3F, 0x89, 0xC2,     // mov ax,102h; sub al,5; aas; mov dx,ax
            0xB0, 0x4F, 0xD4, 0x0A, 0x89, 0xC6,                 // mov al,79; aam; mov si,ax
            0xD5, 0x0A, 0x89, 0xC7, 0xF4,                       // aad; mov di,ax; hlt
        ]
        let machine = try LegacyModeMachine(.real, code: code)
        #expect(try machine.run() == nil)
        let r = try machine.registers
        #expect(r.rbx & 0xFFFF == 0x8814, "79 + 35 = 114 (DAA 14h), 35 - 47 = -12 (DAS 88h)")
        #expect(r.rcx & 0xFFFF == 0x0104, "9 + 5 = 14 unpacked: AH 1, AL 4")
        #expect(r.rdx & 0xFFFF == 0x0007, "12 - 5 = 7 unpacked, AAS borrows from AH")
        #expect(r.rsi & 0xFFFF == 0x0709, "AAM splits 79 into 7 and 9")
        #expect(r.rdi & 0xFFFF == 0x004F, "AAD joins 7 and 9 into 79")
    }

    @Test func asciiAdjustByZeroIsADivideError() throws {
        let machine = try LegacyModeMachine(.real, code: [0xB0, 0x05, 0xD4, 0x00, 0xF4])
        #expect(try machine.run() == 0)
    }

    @Test func pushAllAndPopAllRoundTrip() throws {
        var code: [UInt8] = [0xB8, 1, 0, 0xB9, 2, 0, 0xBA, 3, 0, 0xBB, 4, 0, 0xBD, 5, 0, 0xBE, 6, 0, 0xBF, 7, 0, 0x60]
        code += [0x31, 0xC0, 0x31, 0xC9, 0x31, 0xD2, 0x31, 0xDB, 0x31, 0xED, 0x31, 0xF6, 0x31, 0xFF, 0x61, 0xF4]
        let machine = try LegacyModeMachine(.real, code: code)
        #expect(try machine.run() == nil)
        let r = try machine.registers
        #expect([r.rax, r.rcx, r.rdx, r.rbx, r.rbp, r.rsi, r.rdi].map { $0 & 0xFFFF } == [1, 2, 3, 4, 5, 6, 7])
        #expect(r.rsp == 0x8000)
        #expect(try machine.memory.read(UInt16.self, at: GuestAddress(0x7FF6)) == 0x8000, "PUSHA saves SP before it")
    }

    @Test func segmentPushPopSALCAndMoffs() throws {
        let code: [UInt8] = [
            0xB8, 0x34, 0x12, 0x8E, 0xC0, 0x06, 0x1F, 0x8C, 0xDB,  // mov ax,1234h; mov es,ax; push es; pop ds; mov bx,ds
            0x31, 0xC0, 0x8E, 0xD8,                              // xor ax,ax; mov ds,ax
            0xA1, 0x00, 0x20, 0xA3, 0x02, 0x20,                  // mov ax,[2000h]; mov [2002h],ax
            0xB9, 0x00, 0x02, 0x8E, 0xC1, 0x26, 0xA0, 0x10, 0x00, // mov cx,200h; mov es,cx; mov al,es:[10h]
            0x88, 0xC6, 0xF9, 0xD6, 0xF4,                        // mov dh,al; stc; salc; hlt
        ]
        let machine = try LegacyModeMachine(.real, code: code)
        try machine.memory.write(UInt16(0xBEEF), at: GuestAddress(0x2000))
        try machine.memory.write(UInt8(0x5A), at: GuestAddress(0x2010))
        #expect(try machine.run() == nil)
        let r = try machine.registers
        #expect(r.rbx & 0xFFFF == 0x1234)
        #expect(try machine.memory.read(UInt16.self, at: GuestAddress(0x2002)) == 0xBEEF)
        #expect((r.rdx >> 8) & 0xFF == 0x5A, "the ES override reached 200h:10h")
        #expect(r.rax & 0xFF == 0xFF, "SALC copies CF into every bit of AL")
    }

    @Test func loadFarPointerAndBounds() throws {
        let code: [UInt8] = [
            0xC4, 0x1E, 0x00, 0x20,               // les bx,[2000h]
            0xB8, 0x0F, 0x00, 0x62, 0x06, 0x04, 0x20,  // mov ax,15; bound ax,[2004h]  (10..20: passes)
            0xB8, 0x19, 0x00, 0x62, 0x06, 0x04, 0x20,  // mov ax,25; bound ax,[2004h]  (#BR)
            0xF4,
        ]
        let machine = try LegacyModeMachine(.real, code: code)
        try machine.memory.write([0x78, 0x56, 0x00, 0x03, 10, 0, 20, 0], at: GuestAddress(0x2000))
        #expect(try machine.run() == 5)
        let r = try machine.registers
        #expect(r.rbx & 0xFFFF == 0x5678)
        #expect(try machine.vcpu.specialRegisters().es.selector == 0x300)
        #expect(try machine.memory.read(UInt16.self, at: GuestAddress(0x8000 - 6)) == 0x100E, "#BR returns to the BOUND")
    }

    @Test func intoTrapsOnlyOnOverflowAndINT1IsADebugTrap() throws {
        // mov al,1; add al,1; into (no trap); mov al,7fh; add al,1; into (#OF)
        let machine = try LegacyModeMachine(.real, code: [0xB0, 0x01, 0x04, 0x01, 0xCE, 0xB0, 0x7F, 0x04, 0x01, 0xCE, 0xF4])
        #expect(try machine.run() == 4)
        #expect(try machine.memory.read(UInt16.self, at: GuestAddress(0x8000 - 6)) == 0x100A, "INTO is a trap")
        let icebp = try LegacyModeMachine(.real, code: [0x90, 0xF1, 0xF4])
        #expect(try icebp.run() == 1)
        #expect(try icebp.memory.read(UInt16.self, at: GuestAddress(0x8000 - 6)) == 0x1002)
    }

    @Test func farCallsInRealMode() throws {
        // call 0000:1100h; call far [2008h]; hlt; ... 1100h: inc bx; retf
        var code: [UInt8] = [0x9A, 0x00, 0x11, 0x00, 0x00, 0xFF, 0x1E, 0x08, 0x20, 0xF4]
        code += [UInt8](repeating: 0x90, count: 0x100 - code.count) + [0x43, 0xCB]
        let machine = try LegacyModeMachine(.real, code: code)
        try machine.memory.write([0x00, 0x11, 0x00, 0x00], at: GuestAddress(0x2008))
        #expect(try machine.run() == nil)
        let r = try machine.registers
        #expect(r.rbx & 0xFFFF == 2)
        #expect(r.rsp == 0x8000 && r.rip == 0x100A)
    }

    @Test func farCallThroughACallGateAndBack() throws {
        // call 20h:0 (the gate to 18h:3000h, which sets EBX and returns with RETF); pushad; popad; hlt
        let machine = try LegacyModeMachine(.protected32, code: [0x9A, 0, 0, 0, 0, 0x20, 0x00, 0x60, 0x61, 0xF4],
                                            gateCode: [0x8C, 0xC9, 0xBB, 0x55, 0, 0, 0, 0xCB])
        #expect(try machine.run() == nil)
        let r = try machine.registers
        #expect(r.rbx == 0x55)
        #expect(r.rcx & 0xFFFF == 0x18, "the gate's code segment ran")
        #expect(r.rsp == 0x8000 && r.rip == 0x100A)
        #expect(try machine.vcpu.specialRegisters().cs.selector == 0x08)
    }

    @Test func farJumpThroughACallGateAndDirect() throws {
        let gate = try LegacyModeMachine(.protected32, code: [0xEA, 0, 0, 0, 0, 0x20, 0x00])
        #expect(try gate.run() == nil)
        #expect(try gate.registers.rip == LegacyModeMachine.gateTarget + 1)
        #expect(try gate.vcpu.specialRegisters().cs.selector == 0x18)
        // jmp far [2000h] to 18h:3000h
        let indirect = try LegacyModeMachine(.protected32, code: [0xFF, 0x2D, 0x00, 0x20, 0x00, 0x00])
        try indirect.memory.write([0x00, 0x30, 0x00, 0x00, 0x18, 0x00], at: GuestAddress(0x2000))
        #expect(try indirect.run() == nil)
        #expect(try indirect.registers.rip == LegacyModeMachine.gateTarget + 1)
        // A far jump to the data segment is #GP(10h).
        let bad = try LegacyModeMachine(.protected32, code: [0xEA, 0, 0, 0, 0, 0x10, 0x00])
        #expect(try bad.run() == 13)
        #expect(try bad.memory.read(UInt32.self, at: GuestAddress(0x8000 - 16)) == 0x10)
    }

    @Test func legacyOpcodesAreInvalidIn64BitMode() throws {
        for opcode: UInt8 in [0x06, 0x07, 0x0E, 0x16, 0x17, 0x1E, 0x1F, 0x27, 0x2F, 0x37, 0x3F, 0x60, 0x61, 0x62, 0x82,
                              0x9A, 0xC4, 0xC5, 0xCE, 0xD4, 0xD5, 0xD6, 0xEA] {
            let machine = try SoftCPUTestMachine(code: [opcode, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF4], idtLimit: 0xFFF)
            try machine.installGate(vector: 6, handler: 0x100800)
            try machine.memory.write(UInt8(0xF4), at: GuestAddress(0x100800))
            #expect(try machine.runToHalt() == ["halt"])
            #expect(try machine.vcpu.registers().rip == 0x100801, "opcode \(opcode) must be #UD in 64-bit mode")
        }
    }

    @Test func moffsUsesA64BitOffsetInLongMode() throws {
        // mov rax, [200000h] (moffs64); mov [200010h], al; mov eax, [200000h] with 67h (moffs32); hlt
        let machine = try SoftCPUTestMachine(code: [0x48, 0xA1, 0x00, 0x00, 0x20, 0, 0, 0, 0, 0,
                                                    0xA2, 0x10, 0x00, 0x20, 0, 0, 0, 0, 0,
                                                    0x67, 0x8B, 0x0C, 0x25, 0x00, 0x00, 0x20, 0x00,
                                                    0x67, 0xA1, 0x04, 0x00, 0x20, 0x00, 0xF4])
        try machine.memory.write(UInt64(0x1122_3344_5566_7788), at: GuestAddress(0x200000))
        #expect(try machine.runToHalt() == ["halt"])
        #expect(try machine.memory.read(UInt8.self, at: GuestAddress(0x200010)) == 0x88)
        #expect(try machine.vcpu.registers().rax == 0x1122_3344, "the 67h form reads a 4-byte offset")
    }
}
