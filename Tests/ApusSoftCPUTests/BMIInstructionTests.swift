import ApusCore
import ApusSoftCPU
import Testing

/// BMI1, BMI2, TZCNT and LZCNT in 32-bit protected mode, where C4/C5 are VEX only before a register-form byte
/// (LES/LDS otherwise), with results worked from the SDM's definitions, and the VEX forms that stay #UD.
@Suite struct BMIInstructionTests {
    /// Loads EBX, ECX and EDX, runs `instruction`, halts; returns the registers (nil vector: halted normally).
    static func run(_ instruction: [UInt8], ebx: UInt32 = 0, ecx: UInt32 = 0, edx: UInt32 = 0) throws -> (Int?, Registers) {
        func move(_ opcode: UInt8, _ value: UInt32) -> [UInt8] { [opcode] + (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        let code = move(0xBB, ebx) + move(0xB9, ecx) + move(0xBA, edx) + move(0xB8, 0xAAAA_AAAA) + instruction + [0xF4]
        let machine = try LegacyModeMachine(.protected32, code: code)
        let vector = try machine.run()
        return (vector, try machine.registers)
    }

    static let cf: UInt64 = 1, zf: UInt64 = 0x40, sf: UInt64 = 0x80, of: UInt64 = 0x800, defined: UInt64 = 0x8C1

    @Test func bmi1() throws {
        var (vector, r) = try Self.run([0xC4, 0xE2, 0x60, 0xF2, 0xC1], ebx: 0xF0F0_F0F0, ecx: 0xFFFF_0000)   // andn eax,ebx,ecx
        #expect(vector == nil && r.rax == 0x0F0F_0000 && r.rflags & Self.defined == 0)
        (vector, r) = try Self.run([0xC4, 0xE2, 0x60, 0xF7, 0xC1], ebx: 0x0804, ecx: 0x1234_5678)   // bextr eax,ecx,ebx
        #expect(r.rax == 0x67 && r.rflags & Self.defined == 0)
        (vector, r) = try Self.run([0xC4, 0xE2, 0x60, 0xF7, 0xC1], ebx: 0x0820, ecx: 0x1234_5678)   // start past the top
        #expect(r.rax == 0 && r.rflags & Self.defined == Self.zf)
        (vector, r) = try Self.run([0xC4, 0xE2, 0x60, 0xF7, 0xC1], ebx: 0xFF08, ecx: 0x1234_5678)   // length past the top
        #expect(r.rax == 0x12_3456)
        (vector, r) = try Self.run([0xC4, 0xE2, 0x60, 0xF3, 0xC9], ecx: 0)             // blsr ebx,ecx
        #expect(r.rbx == 0 && r.rflags & Self.defined == Self.cf | Self.zf)
        (vector, r) = try Self.run([0xC4, 0xE2, 0x60, 0xF3, 0xD9], ecx: 0xF0)          // blsi ebx,ecx
        #expect(r.rbx == 0x10 && r.rflags & Self.defined == Self.cf)
        (vector, r) = try Self.run([0xC4, 0xE2, 0x60, 0xF3, 0xD1], ecx: 0xF0)          // blsmsk ebx,ecx
        #expect(r.rbx == 0x1F && r.rflags & Self.defined == 0)
        (vector, r) = try Self.run([0xC4, 0xE2, 0x60, 0xF3, 0xD1], ecx: 0x8000_0000)   // blsmsk: all ones, SF
        #expect(r.rbx == 0xFFFF_FFFF && r.rflags & Self.defined == Self.sf)
    }

    @Test func bmi2() throws {
        var (_, r) = try Self.run([0xC4, 0xE2, 0x60, 0xF5, 0xC1], ebx: 12, ecx: 0x1234_5678)   // bzhi eax,ecx,ebx
        #expect(r.rax == 0x678 && r.rflags & Self.defined == 0)
        (_, r) = try Self.run([0xC4, 0xE2, 0x60, 0xF5, 0xC1], ebx: 0x1_0028, ecx: 0x8234_5678)  // index 40 (byte 0)
        #expect(r.rax == 0x8234_5678 && r.rflags & Self.defined == Self.cf | Self.sf)
        (_, r) = try Self.run([0xC4, 0xE2, 0x63, 0xF5, 0xC1], ebx: 0xB, ecx: 0xF0F0)            // pdep eax,ebx,ecx
        #expect(r.rax == 0xB0)
        (_, r) = try Self.run([0xC4, 0xE2, 0x62, 0xF5, 0xC1], ebx: 0x1234_5678, ecx: 0xF0F0)    // pext eax,ebx,ecx
        #expect(r.rax == 0x57)
        (_, r) = try Self.run([0xC4, 0xE2, 0x63, 0xF6, 0xC1], ecx: 6, edx: 0x8000_0000)         // mulx eax,ebx,ecx
        #expect(r.rax == 3 && r.rbx == 0)
        (_, r) = try Self.run([0xC4, 0xE3, 0x7B, 0xF0, 0xC1, 0x08], ecx: 0x1234_5678)           // rorx eax,ecx,8
        #expect(r.rax == 0x7812_3456)
        (_, r) = try Self.run([0xC4, 0xE2, 0x62, 0xF7, 0xC1], ebx: 33, ecx: 0x8000_0000)        // sarx: count mod 32
        #expect(r.rax == 0xC000_0000)
        (_, r) = try Self.run([0xC4, 0xE2, 0x61, 0xF7, 0xC1], ebx: 1, ecx: 0x8000_0001)         // shlx
        #expect(r.rax == 2)
        (_, r) = try Self.run([0xC4, 0xE2, 0x63, 0xF7, 0xC1], ebx: 31, ecx: 0x8000_0000)        // shrx
        #expect(r.rax == 1)
    }

    @Test func trailingAndLeadingZeroCounts() throws {
        var (_, r) = try Self.run([0xF3, 0x0F, 0xBC, 0xC1], ecx: 0)                   // tzcnt eax,ecx
        #expect(r.rax == 32 && r.rflags & Self.defined == Self.cf)
        (_, r) = try Self.run([0x66, 0xF3, 0x0F, 0xBC, 0xC1], ecx: 0x1_0000)          // tzcnt ax,cx: 16 bits
        #expect(r.rax == 0xAAAA_0010 && r.rflags & Self.defined == Self.cf)
        (_, r) = try Self.run([0xF3, 0x0F, 0xBD, 0xC1], ecx: 0x1_0000)                // lzcnt eax,ecx
        #expect(r.rax == 15 && r.rflags & Self.defined == 0)
        (_, r) = try Self.run([0xF3, 0x0F, 0xBD, 0xC1], ecx: 0x8000_0000)             // lzcnt: zero count, ZF
        #expect(r.rax == 0 && r.rflags & Self.defined == Self.zf)
    }

    @Test func invalidVEXFormsAndLESStillLoads() throws {
        for form: [UInt8] in [[0xC4, 0xE2, 0x64, 0xF2, 0xC1],         // VEX.L = 1
                              [0x66, 0xC4, 0xE2, 0x60, 0xF2, 0xC1],   // 66 before VEX
                              [0xF3, 0xC4, 0xE2, 0x60, 0xF2, 0xC1],   // F3 before VEX
                              [0xC4, 0xE2, 0x60, 0xF3, 0xC1],         // group 17 /0
                              [0xC4, 0xE3, 0x73, 0xF0, 0xC1, 0x08],   // RORX with vvvv other than 1111b
                              [0xC5, 0xF8, 0x77]] {                   // VZEROUPPER: AVX is not advertised
            let (vector, _) = try Self.run(form)
            #expect(vector == 6, "\(form) is #UD")
        }
        // les eax,[3000h]: a memory ModRM after C4 keeps it LES outside 64-bit mode.
        let machine = try LegacyModeMachine(.protected32, code: [0xC4, 0x05, 0x00, 0x30, 0, 0, 0xF4])
        try machine.memory.write([0x34, 0x12, 0, 0, 0x10, 0], at: GuestAddress(0x3000))
        #expect(try machine.run() == nil)
        #expect(try machine.registers.rax == 0x1234)
        #expect(try machine.vcpu.specialRegisters().es.selector == 0x10)
    }
}
