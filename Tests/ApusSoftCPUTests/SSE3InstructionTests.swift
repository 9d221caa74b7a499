import ApusCore
import ApusSoftCPU
import Testing

/// SSE3, checked against values worked by hand from the SDM: the horizontal and alternating float arithmetic, the
/// duplicating moves and LDDQU, an unmasked exception that leaves the destination alone, the forms that stay #UD,
/// and FISTTP's truncation whatever the x87 control word's rounding.
@Suite struct SSE3InstructionTests {
    /// mov eax,cr4; or eax,600h (OSFXSR, OSXMMEXCPT); mov cr4,eax.
    static let enableSSE: [UInt8] = [0x0F, 0x20, 0xE0, 0x0D, 0x00, 0x06, 0, 0, 0x0F, 0x22, 0xE0]

    static func singles(_ values: [Float]) -> [UInt8] {
        values.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * $0)) } }
    }

    static func doubles(_ values: [Double]) -> [UInt8] {
        values.flatMap { value in (0..<8).map { UInt8(truncatingIfNeeded: value.bitPattern >> (8 * UInt64($0))) } }
    }

    static func singles(_ v: (low: UInt64, high: UInt64)) -> [Float] {
        [v.low, v.low >> 32, v.high, v.high >> 32].map { Float(bitPattern: UInt32(truncatingIfNeeded: $0)) }
    }

    static func doubles(_ v: (low: UInt64, high: UInt64)) -> [Double] {
        [Double(bitPattern: v.low), Double(bitPattern: v.high)]
    }

    @Test func singlePrecisionHorizontalAlternatingAndDuplicates() throws {
        let code = Self.enableSSE + [
            0x0F, 0x10, 0x05, 0x00, 0x20, 0, 0,     // movups xmm0,[2000h]
            0x0F, 0x10, 0x0D, 0x10, 0x20, 0, 0,     // movups xmm1,[2010h]
            0x0F, 0x28, 0xD0, 0xF2, 0x0F, 0x7C, 0xD1,   // movaps xmm2,xmm0; haddps xmm2,xmm1
            0x0F, 0x28, 0xD8, 0xF2, 0x0F, 0x7D, 0xD9,   // movaps xmm3,xmm0; hsubps xmm3,xmm1
            0x0F, 0x28, 0xE0, 0xF2, 0x0F, 0xD0, 0xE1,   // movaps xmm4,xmm0; addsubps xmm4,xmm1
            0xF3, 0x0F, 0x12, 0xE9,                 // movsldup xmm5,xmm1
            0xF3, 0x0F, 0x16, 0x35, 0x10, 0x20, 0, 0,   // movshdup xmm6,[2010h]
            0xF4,
        ]
        let machine = try LegacyModeMachine(.protected32, code: code)
        try machine.memory.write(Self.singles([1, 2, 3, 4, 10, 20, 30, 40]), at: GuestAddress(0x2000))
        #expect(try machine.run() == nil)
        let fpu = try machine.vcpu.fpu()
        #expect(Self.singles(fpu.xmm(2)) == [3, 7, 30, 70])
        #expect(Self.singles(fpu.xmm(3)) == [-1, -1, -10, -10])
        #expect(Self.singles(fpu.xmm(4)) == [-9, 22, -27, 44])
        #expect(Self.singles(fpu.xmm(5)) == [10, 10, 30, 30])
        #expect(Self.singles(fpu.xmm(6)) == [20, 20, 40, 40])
        #expect(fpu.mxcsr & 0x3F == 0, "exact results raise nothing")
    }

    @Test func doublePrecisionHorizontalAlternatingMovddupAndLddqu() throws {
        let code = Self.enableSSE + [
            0x0F, 0x10, 0x05, 0x20, 0x20, 0, 0,     // movups xmm0,[2020h]
            0x0F, 0x10, 0x0D, 0x30, 0x20, 0, 0,     // movups xmm1,[2030h]
            0x0F, 0x28, 0xD0, 0x66, 0x0F, 0x7C, 0xD1,   // movaps xmm2,xmm0; haddpd xmm2,xmm1
            0x0F, 0x28, 0xD8, 0x66, 0x0F, 0x7D, 0xD9,   // movaps xmm3,xmm0; hsubpd xmm3,xmm1
            0x0F, 0x28, 0xE0, 0x66, 0x0F, 0xD0, 0xE1,   // movaps xmm4,xmm0; addsubpd xmm4,xmm1
            0xF2, 0x0F, 0x12, 0x2D, 0x38, 0x20, 0, 0,   // movddup xmm5,[2038h]
            0xF2, 0x0F, 0x12, 0xF8,                 // movddup xmm7,xmm0
            0xF2, 0x0F, 0xF0, 0x35, 0x01, 0x20, 0, 0,   // lddqu xmm6,[2001h]: unaligned is allowed
            0xF4,
        ]
        let machine = try LegacyModeMachine(.protected32, code: code)
        try machine.memory.write((0..<32).map { UInt8($0) }, at: GuestAddress(0x2000))
        try machine.memory.write(Self.doubles([1.5, 2.5, 100, 0.25]), at: GuestAddress(0x2020))
        #expect(try machine.run() == nil)
        let fpu = try machine.vcpu.fpu()
        #expect(Self.doubles(fpu.xmm(2)) == [4, 100.25])
        #expect(Self.doubles(fpu.xmm(3)) == [-1, 99.75])
        #expect(Self.doubles(fpu.xmm(4)) == [-98.5, 2.75])
        #expect(Self.doubles(fpu.xmm(5)) == [0.25, 0.25])
        #expect(Self.doubles(fpu.xmm(7)) == [1.5, 1.5])
        #expect(fpu.xmm(6).low == 0x0807_0605_0403_0201 && fpu.xmm(6).high == 0x100F_0E0D_0C0B_0A09)
    }

    @Test func anUnmaskedPrecisionExceptionLeavesTheDestination() throws {
        let code = Self.enableSSE + [
            0x0F, 0xAE, 0x15, 0x40, 0x20, 0, 0,     // ldmxcsr [2040h]: PM clear
            0x0F, 0x10, 0x15, 0x50, 0x20, 0, 0,     // movups xmm2,[2050h]
            0xF2, 0x0F, 0x7C, 0xD2,                 // haddps xmm2,xmm2: 1 + 2^-30 is inexact
            0xF4,
        ]
        let machine = try LegacyModeMachine(.protected32, code: code)
        try machine.memory.write(UInt32(0x0F80), at: GuestAddress(0x2040))
        try machine.memory.write(Self.singles([1, 0x1p-30, 0, 0]), at: GuestAddress(0x2050))
        #expect(try machine.run() == 19, "#XM with CR4.OSXMMEXCPT")
        let fpu = try machine.vcpu.fpu()
        #expect(Self.singles(fpu.xmm(2)) == [1, 0x1p-30, 0, 0])
        #expect(fpu.mxcsr & 0x3F == 0x20, "PE recorded")
    }

    @Test func formsOutsideSSE3StayInvalid() throws {
        for form: [UInt8] in [[0xF2, 0x0F, 0xF0, 0xC1], [0x0F, 0x7C, 0xC1], [0xF3, 0x0F, 0x7D, 0xC1],
                              [0x0F, 0xD0, 0xC1], [0xF3, 0x0F, 0xD0, 0xC1], [0x66, 0x0F, 0xF0, 0x05, 0, 0x20, 0, 0]] {
            let machine = try LegacyModeMachine(.protected32, code: Self.enableSSE + form + [0xF4])
            #expect(try machine.run() == 6, "\(form) is #UD")
        }
    }

    @Test func fisttpTruncatesInEveryWidth() throws {
        let code: [UInt8] = [
            0xDB, 0xE3,                             // fninit (round to nearest)
            0xDD, 0x05, 0x00, 0x20, 0, 0,           // fld qword [2000h]: 2.7
            0xDB, 0x0D, 0x00, 0x30, 0, 0,           // fisttp dword [3000h]: 2
            0xDD, 0x05, 0x08, 0x20, 0, 0,           // fld qword [2008h]: -2.7
            0xDF, 0x0D, 0x04, 0x30, 0, 0,           // fisttp word [3004h]: -2
            0xDD, 0x05, 0x10, 0x20, 0, 0,           // fld qword [2010h]: 1e30
            0xDD, 0x0D, 0x08, 0x30, 0, 0,           // fisttp qword [3008h]: invalid, the integer indefinite
            0xDD, 0x05, 0x00, 0x20, 0, 0,           // fld qword [2000h]: 2.7
            0xDB, 0x1D, 0x10, 0x30, 0, 0,           // fistp dword [3010h]: 3, as the control word rounds
            0xDF, 0xE0,                             // fnstsw ax
            0xF4,
        ]
        let machine = try LegacyModeMachine(.protected32, code: code)
        try machine.memory.write(Self.doubles([2.7, -2.7, 1e30]), at: GuestAddress(0x2000))
        #expect(try machine.run() == nil)
        #expect(try machine.memory.read(UInt32.self, at: GuestAddress(0x3000)) == 2)
        #expect(try machine.memory.read(UInt16.self, at: GuestAddress(0x3004)) == 0xFFFE)
        #expect(try machine.memory.read(UInt64.self, at: GuestAddress(0x3008)) == 0x8000_0000_0000_0000)
        #expect(try machine.memory.read(UInt32.self, at: GuestAddress(0x3010)) == 3)
        let status = try machine.registers.rax & 0xFFFF
        #expect(status & 0x21 == 0x21, "IE from the overflow, PE from the truncations")
        #expect((status >> 11) & 7 == 0, "every store popped")
    }

    @Test func fisttpInRealMode() throws {
        let code: [UInt8] = [
            0xDB, 0xE3,                             // fninit
            0xDD, 0x06, 0x00, 0x20,                 // fld qword [2000h]
            0xDF, 0x0E, 0x00, 0x30,                 // fisttp word [3000h]
            0xF4,
        ]
        let machine = try LegacyModeMachine(.real, code: code)
        try machine.memory.write(Self.doubles([-7.9]), at: GuestAddress(0x2000))
        #expect(try machine.run() == nil)
        #expect(try machine.memory.read(UInt16.self, at: GuestAddress(0x3000)) == 0xFFF9)
    }
}
