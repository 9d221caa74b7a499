import ApusCore
import ApusSoftCPU
import Testing

/// SSSE3's integer operations (0F 38, 0F 3A), checked against values worked by hand from the SDM, in the XMM (66)
/// and MMX forms, and the prefixes that stay #UD.
@Suite struct SSSE3InstructionTests {
    /// Runs `body` in 32-bit protected mode with OSFXSR set, XMM0/MM0 loaded from 0x2000 and XMM1/MM1 from 0x2010.
    static func run(_ body: [UInt8], first: [UInt8], second: [UInt8]) throws -> LegacyModeMachine {
        let code: [UInt8] = SSE3InstructionTests.enableSSE + [
            0x0F, 0x10, 0x05, 0x00, 0x20, 0, 0,     // movups xmm0,[2000h]
            0x0F, 0x10, 0x0D, 0x10, 0x20, 0, 0,     // movups xmm1,[2010h]
            0x0F, 0x6F, 0x05, 0x00, 0x20, 0, 0,     // movq mm0,[2000h]
            0x0F, 0x6F, 0x0D, 0x10, 0x20, 0, 0,     // movq mm1,[2010h]
        ] + body + [0xF4]
        let machine = try LegacyModeMachine(.protected32, code: code)
        try machine.memory.write(first, at: GuestAddress(0x2000))
        try machine.memory.write(second, at: GuestAddress(0x2010))
        #expect(try machine.run() == nil)
        return machine
    }

    static func bytes(_ v: (low: UInt64, high: UInt64)) -> [UInt8] {
        (0..<16).map { UInt8(truncatingIfNeeded: ($0 < 8 ? v.low : v.high) >> UInt64(8 * ($0 & 7))) }
    }

    static func words(_ values: [Int16]) -> [UInt8] {
        values.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] }
    }

    static func dwords(_ values: [Int32]) -> [UInt8] {
        values.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: value >> Int32(8 * $0)) } }
    }

    @Test func pshufbSelectsOrZeroes() throws {
        let table = (0..<16).map { UInt8(0xA0 + $0) }
        let control: [UInt8] = [15, 0, 0x80, 3, 0x8F, 17, 7, 8, 1, 1, 1, 1, 0xFF, 14, 13, 12]
        let machine = try Self.run([0x66, 0x0F, 0x38, 0x00, 0xC1,   // pshufb xmm0,xmm1
                                    0x0F, 0x38, 0x00, 0xC1],        // pshufb mm0,mm1: indexes cut to 3 bits
                                   first: table, second: control)
        let fpu = try machine.vcpu.fpu()
        #expect(Self.bytes(fpu.xmm(0)) == [0xAF, 0xA0, 0, 0xA3, 0, 0xA1, 0xA7, 0xA8, 0xA1, 0xA1, 0xA1, 0xA1, 0, 0xAE,
                                           0xAD, 0xAC])
        let mm0 = fpu.fxsave[32..<40].map { $0 }
        #expect(mm0 == [0xA7, 0xA0, 0, 0xA3, 0, 0xA1, 0xA7, 0xA0])
    }

    @Test func horizontalAddsAndSubtractsWrapOrSaturate() throws {
        let a = Self.words([1, 2, 32767, 1, -5, 3, 100, -100])
        let b = Self.words([-32768, -1, 10, 20, 7, 7, 0, 0])
        let machine = try Self.run([
            0x0F, 0x28, 0xD0, 0x66, 0x0F, 0x38, 0x01, 0xD1,   // movaps xmm2,xmm0; phaddw xmm2,xmm1
            0x0F, 0x28, 0xD8, 0x66, 0x0F, 0x38, 0x03, 0xD9,   // movaps xmm3,xmm0; phaddsw xmm3,xmm1
            0x0F, 0x28, 0xE0, 0x66, 0x0F, 0x38, 0x05, 0xE1,   // movaps xmm4,xmm0; phsubw xmm4,xmm1
            0x0F, 0x28, 0xE8, 0x66, 0x0F, 0x38, 0x07, 0xE9,   // movaps xmm5,xmm0; phsubsw xmm5,xmm1
            0x0F, 0x28, 0xF0, 0x66, 0x0F, 0x38, 0x02, 0xF1,   // movaps xmm6,xmm0; phaddd xmm6,xmm1
            0x0F, 0x28, 0xF8, 0x66, 0x0F, 0x38, 0x06, 0xF9,   // movaps xmm7,xmm0; phsubd xmm7,xmm1
        ], first: a, second: b)
        let fpu = try machine.vcpu.fpu()
        #expect(Self.bytes(fpu.xmm(2)) == Self.words([3, -32768, -2, 0, 32767, 30, 14, 0]))
        #expect(Self.bytes(fpu.xmm(3)) == Self.words([3, 32767, -2, 0, -32768, 30, 14, 0]))
        #expect(Self.bytes(fpu.xmm(4)) == Self.words([-1, 32766, -8, 200, -32767, -10, 0, 0]))
        #expect(Self.bytes(fpu.xmm(5)) == Self.words([-1, 32766, -8, 200, -32767, -10, 0, 0]))
        let ad = Self.lanes32(a), bd = Self.lanes32(b)
        #expect(Self.bytes(fpu.xmm(6)) == Self.dwords([ad[0] &+ ad[1], ad[2] &+ ad[3], bd[0] &+ bd[1], bd[2] &+ bd[3]]))
        #expect(Self.bytes(fpu.xmm(7)) == Self.dwords([ad[0] &- ad[1], ad[2] &- ad[3], bd[0] &- bd[1], bd[2] &- bd[3]]))
    }

    static func lanes32(_ bytes: [UInt8]) -> [Int32] {
        stride(from: 0, to: bytes.count, by: 4).map { start in
            Int32(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[start + $1]) << UInt32(8 * $1) })
        }
    }

    @Test func signsAbsolutesAndMultiplies() throws {
        let a = Self.words([5, -5, 7, -32768, 1000, 255, 16384, -16384])
        let b = Self.words([-1, 0, 3, -1, 2, 1, 16384, 16384])
        let machine = try Self.run([
            0x0F, 0x28, 0xD0, 0x66, 0x0F, 0x38, 0x09, 0xD1,   // movaps xmm2,xmm0; psignw xmm2,xmm1
            0x66, 0x0F, 0x38, 0x1D, 0xD8,                     // pabsw xmm3,xmm0
            0x66, 0x0F, 0x38, 0x1C, 0xE0,                     // pabsb xmm4,xmm0
            0x0F, 0x28, 0xE8, 0x66, 0x0F, 0x38, 0x0B, 0xE9,   // movaps xmm5,xmm0; pmulhrsw xmm5,xmm1
            0x0F, 0x28, 0xF0, 0x66, 0x0F, 0x38, 0x04, 0xF1,   // movaps xmm6,xmm0; pmaddubsw xmm6,xmm1
            0x66, 0x0F, 0x38, 0x1E, 0xF9,                     // pabsd xmm7,xmm1
        ], first: a, second: b)
        let fpu = try machine.vcpu.fpu()
        #expect(Self.bytes(fpu.xmm(2)) == Self.words([-5, 0, 7, -32768, 1000, 255, 16384, -16384]))
        #expect(Self.bytes(fpu.xmm(3)) == Self.words([5, 5, 7, -32768, 1000, 255, 16384, 16384]))
        #expect(Self.bytes(fpu.xmm(4)) == a.map { UInt8(abs(Int(Int8(bitPattern: $0)))) & 0xFF })
        // (a x b) / 2^15, rounded: -5 x 0 = 0, 7 x 3 = 21 -> 0, 16384 x 16384 = 2^28 -> 8192
        #expect(Self.bytes(fpu.xmm(5)) == Self.words([0, 0, 0, 1, 0, 0, 8192, -8192]))
        let products = (0..<16).map { Int(a[$0]) * Int(Int8(bitPattern: b[$0])) }
        let expected = (0..<8).map { Int16(clamping: products[2 * $0] + products[2 * $0 + 1]) }
        #expect(Self.bytes(fpu.xmm(6)) == Self.words(expected))
        #expect(Self.bytes(fpu.xmm(7)) == Self.dwords(Self.lanes32(b).map { $0 == .min ? .min : abs($0) }))
    }

    @Test func palignrShiftsTheConcatenation() throws {
        let a = (0..<16).map { UInt8(0x10 + $0) }, b = (0..<16).map { UInt8(0x80 + $0) }
        let machine = try Self.run([
            0x0F, 0x28, 0xD0, 0x66, 0x0F, 0x3A, 0x0F, 0xD1, 0x05,   // movaps xmm2,xmm0; palignr xmm2,xmm1,5
            0x0F, 0x28, 0xD8, 0x66, 0x0F, 0x3A, 0x0F, 0xD9, 0x1C,   // movaps xmm3,xmm0; palignr xmm3,xmm1,28
            0x0F, 0x3A, 0x0F, 0xC1, 0x03,                           // palignr mm0,mm1,3
        ], first: a, second: b)
        let fpu = try machine.vcpu.fpu()
        #expect(Self.bytes(fpu.xmm(2)) == Array(b[5...]) + Array(a[..<5]))
        #expect(Self.bytes(fpu.xmm(3)) == Array(a[12...]) + [UInt8](repeating: 0, count: 12))
        #expect(fpu.fxsave[32..<40].map { $0 } == Array(b[3..<8]) + Array(a[0..<3]))
    }

    @Test func repeatPrefixesAndOtherMapEntriesAreInvalid() throws {
        for form: [UInt8] in [[0xF3, 0x0F, 0x38, 0x00, 0xC1], [0xF2, 0x66, 0x0F, 0x38, 0x01, 0xC1],
                              [0x66, 0x0F, 0x38, 0xDB, 0xC1], [0x66, 0x0F, 0x3A, 0x44, 0xC1, 0x00]] {   // AESIMC, PCLMULQDQ
            let machine = try LegacyModeMachine(.protected32, code: SSE3InstructionTests.enableSSE + form + [0xF4])
            #expect(try machine.run() == 6, "\(form) is #UD")
        }
    }
}
