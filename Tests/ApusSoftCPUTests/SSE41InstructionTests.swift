import ApusCore
import ApusSoftCPU
import Testing

/// SSE4.1, checked against values worked by hand from the SDM's definitions: the dword multiplies, minimum and
/// maximum, sign and zero extension, blends, insert and extract, PHMINPOSUW, PACKUSDW, PTEST, MPSADBW, rounding in
/// each mode and the dot products; the forms that stay #UD.
@Suite struct SSE41InstructionTests {
    typealias SSSE3 = SSSE3InstructionTests

    static func qwords(_ values: [Int64]) -> [UInt8] {
        values.flatMap { value in (0..<8).map { UInt8(truncatingIfNeeded: value >> Int64(8 * $0)) } }
    }

    @Test func dwordMultipliesMinimaAndMaxima() throws {
        let a = SSSE3.dwords([5, -7, 100, Int32.min]), b = SSSE3.dwords([3, -9, -100, 7])
        let machine = try SSSE3.run([
            0x0F, 0x28, 0xD0, 0x66, 0x0F, 0x38, 0x39, 0xD1,   // movaps xmm2,xmm0; pminsd xmm2,xmm1
            0x0F, 0x28, 0xD8, 0x66, 0x0F, 0x38, 0x3D, 0xD9,   // movaps xmm3,xmm0; pmaxsd xmm3,xmm1
            0x0F, 0x28, 0xE0, 0x66, 0x0F, 0x38, 0x3B, 0xE1,   // movaps xmm4,xmm0; pminud xmm4,xmm1
            0x0F, 0x28, 0xE8, 0x66, 0x0F, 0x38, 0x3F, 0xE9,   // movaps xmm5,xmm0; pmaxud xmm5,xmm1
            0x0F, 0x28, 0xF0, 0x66, 0x0F, 0x38, 0x40, 0xF1,   // movaps xmm6,xmm0; pmulld xmm6,xmm1
            0x0F, 0x28, 0xF8, 0x66, 0x0F, 0x38, 0x28, 0xF9,   // movaps xmm7,xmm0; pmuldq xmm7,xmm1
        ], first: a, second: b)
        let fpu = try machine.vcpu.fpu()
        #expect(SSSE3.bytes(fpu.xmm(2)) == SSSE3.dwords([3, -9, -100, Int32.min]))
        #expect(SSSE3.bytes(fpu.xmm(3)) == SSSE3.dwords([5, -7, 100, 7]))
        #expect(SSSE3.bytes(fpu.xmm(4)) == SSSE3.dwords([3, -9, 100, 7]))
        #expect(SSSE3.bytes(fpu.xmm(5)) == SSSE3.dwords([5, -7, -100, Int32.min]))
        #expect(SSSE3.bytes(fpu.xmm(6)) == SSSE3.dwords([15, 63, -10000, Int32.min]))
        #expect(SSSE3.bytes(fpu.xmm(7)) == Self.qwords([15, -10000]))
    }

    @Test func signAndZeroExtension() throws {
        let a: [UInt8] = [0x80, 0x7F, 0xFF, 0x01, 0x34, 0x12, 0xCD, 0xAB] + [UInt8](repeating: 0x55, count: 8)
        let machine = try SSSE3.run([
            0x66, 0x0F, 0x38, 0x20, 0xD0,                     // pmovsxbw xmm2,xmm0
            0x66, 0x0F, 0x38, 0x30, 0xD8,                     // pmovzxbw xmm3,xmm0
            0x66, 0x0F, 0x38, 0x23, 0xE0,                     // pmovsxwd xmm4,xmm0
            0x66, 0x0F, 0x38, 0x35, 0x2D, 0x00, 0x20, 0, 0,   // pmovzxdq xmm5,[2000h]
            0x66, 0x0F, 0x38, 0x22, 0x35, 0x01, 0x20, 0, 0,   // pmovsxbq xmm6,[2001h]: 2 bytes, unaligned
        ], first: a, second: [UInt8](repeating: 0, count: 16))
        let fpu = try machine.vcpu.fpu()
        #expect(SSSE3.bytes(fpu.xmm(2)) == SSSE3.words([-128, 127, -1, 1, 0x34, 0x12, -51, -85]))
        #expect(SSSE3.bytes(fpu.xmm(3)) == SSSE3.words([128, 127, 255, 1, 0x34, 0x12, 0xCD, 0xAB]))
        #expect(SSSE3.bytes(fpu.xmm(4)) == SSSE3.dwords([0x7F80, 0x1FF, 0x1234, -21555]))
        #expect(SSSE3.bytes(fpu.xmm(5)) == Self.qwords([0x01FF_7F80, 0xABCD_1234]))
        #expect(SSSE3.bytes(fpu.xmm(6)) == Self.qwords([127, -1]))
    }

    @Test func blendsInsertsExtractsAndTests() throws {
        let a = SSSE3.dwords([-1, 0x1234_5678, 70000, -5]), b = SSSE3.dwords([0x0002_0003, 0x7FFF_0001, 0x10, 0x0005_0006])
        let machine = try SSSE3.run([
            0x66, 0x0F, 0x3A, 0x16, 0xC0, 0x02,               // pextrd eax,xmm0,2
            0x66, 0x0F, 0x3A, 0x14, 0xC1, 0x11,               // pextrb ecx,xmm0,17 (lane 1)
            0x66, 0x0F, 0x3A, 0x15, 0x0D, 0x40, 0x20, 0, 0, 0x03,   // pextrw [2040h],xmm1,3
            0x0F, 0x28, 0xD1, 0x66, 0x0F, 0x3A, 0x20, 0xD0, 0x0F,   // movaps xmm2,xmm1; pinsrb xmm2,eax,15
            0x0F, 0x28, 0xD9, 0x66, 0x0F, 0x3A, 0x21, 0xD8, 0xD4,   // movaps xmm3,xmm1; insertps xmm3,xmm0,D4h
            0x66, 0x0F, 0x38, 0x41, 0xE1,                     // phminposuw xmm4,xmm1
            0x0F, 0x28, 0xE8, 0x66, 0x0F, 0x38, 0x2B, 0xE9,   // movaps xmm5,xmm0; packusdw xmm5,xmm1
            0x0F, 0x28, 0xF1, 0x66, 0x0F, 0x38, 0x14, 0xF0,   // movaps xmm6,xmm1; blendvps xmm6,xmm0 (by xmm0)
            0x0F, 0x28, 0xF9, 0x66, 0x0F, 0x3A, 0x0E, 0xF8, 0x0F,   // movaps xmm7,xmm1; pblendw xmm7,xmm0,0Fh
            0x66, 0x0F, 0x38, 0x17, 0xE4,                     // ptest xmm4,xmm4
        ], first: a, second: b)
        let fpu = try machine.vcpu.fpu()
        let registers = try machine.registers
        #expect(registers.rax == 70000)
        #expect(registers.rcx == 0xFF)
        #expect(try machine.memory.readBytes(at: GuestAddress(0x2040), count: 2) == [0xFF, 0x7F])
        #expect(SSSE3.bytes(fpu.xmm(2)) == SSSE3.dwords([0x0002_0003, 0x7FFF_0001, 0x10, 0x7005_0006]))
        #expect(SSSE3.bytes(fpu.xmm(3)) == SSSE3.dwords([0x0002_0003, -5, 0, 0x0005_0006]))
        #expect(fpu.xmm(4) == (0x5_0000, 0))
        #expect(SSSE3.bytes(fpu.xmm(5)) == SSSE3.words([0, -1, -1, 0, -1, -1, 0x10, -1]))
        #expect(SSSE3.bytes(fpu.xmm(6)) == SSSE3.dwords([-1, 0x7FFF_0001, 0x10, -5]))
        #expect(SSSE3.bytes(fpu.xmm(7)) == SSSE3.dwords([-1, 0x1234_5678, 0x10, 0x0005_0006]))
        #expect(registers.rflags & 0x8D5 == 0x01, "PTEST of a nonzero value with itself: CF set, ZF and the rest clear")
    }

    @Test func sumsOfAbsoluteDifferencesOverSlidingWindows() throws {
        let a = (0..<16).map { UInt8($0 * 3) }, b: [UInt8] = [9, 1, 40, 2, 200, 0, 7, 7, 0, 0, 0, 0, 0, 0, 0, 0]
        let machine = try SSSE3.run([
            0x0F, 0x28, 0xD0, 0x66, 0x0F, 0x3A, 0x42, 0xD1, 0x05,   // movaps xmm2,xmm0; mpsadbw xmm2,xmm1,5
        ], first: a, second: b)
        // imm 5: destination bytes from 4, source block 1 (bytes 4-7: 200 0 7 7).
        let expected = (0..<8).map { lane -> Int16 in
            let window = (0..<4).map { Int(a[4 + lane + $0]) }
            return Int16(zip(window, [200, 0, 7, 7]).map { abs($0 - $1) }.reduce(0, +))
        }
        #expect(SSSE3.bytes(try machine.vcpu.fpu().xmm(2)) == SSSE3.words(expected))
    }

    @Test func roundingInEachModeAndDotProducts() throws {
        let machine = try SSSE3.run([
            0x66, 0x0F, 0x3A, 0x08, 0xD0, 0x00,               // roundps xmm2,xmm0,0 (nearest even)
            0x66, 0x0F, 0x3A, 0x08, 0xD8, 0x01,               // roundps xmm3,xmm0,1 (down)
            0x66, 0x0F, 0x3A, 0x08, 0xE0, 0x02,               // roundps xmm4,xmm0,2 (up)
            0x66, 0x0F, 0x3A, 0x08, 0xE8, 0x0B,               // roundps xmm5,xmm0,0Bh (toward zero, quiet)
            0x0F, 0x28, 0xF0, 0x66, 0x0F, 0x3A, 0x40, 0xF1, 0xF3,   // movaps xmm6,xmm0; dpps xmm6,xmm1,F3h
            0x0F, 0x28, 0xF8, 0x66, 0x0F, 0x3A, 0x40, 0xF9, 0x31,   // movaps xmm7,xmm0; dpps xmm7,xmm1,31h
        ], first: SSE3InstructionTests.singles([2.5, -2.5, 1.25, -0.75]),
           second: SSE3InstructionTests.singles([1, 2, 3, 4]))
        let fpu = try machine.vcpu.fpu()
        #expect(SSE3InstructionTests.singles(fpu.xmm(2)) == [2, -2, 1, -1])
        #expect(SSE3InstructionTests.singles(fpu.xmm(3)) == [2, -3, 1, -1])
        #expect(SSE3InstructionTests.singles(fpu.xmm(4)) == [3, -2, 2, 0])
        #expect(SSE3InstructionTests.singles(fpu.xmm(4))[3].sign == .minus, "-0.75 rounded up is -0")
        #expect(SSE3InstructionTests.singles(fpu.xmm(5)) == [2, -2, 1, 0])
        #expect(SSE3InstructionTests.singles(fpu.xmm(6)) == [-1.75, -1.75, 0, 0])
        #expect(SSE3InstructionTests.singles(fpu.xmm(7)) == [-2.5, 0, 0, 0])
        #expect(fpu.mxcsr & 0x3F == 0x20, "inexact rounding raises precision; the dot products are exact")
    }

    @Test func quietRoundingOfDoublesAndSignalingNaN() throws {
        let machine = try SSSE3.run([
            0x66, 0x0F, 0x3A, 0x09, 0xD0, 0x0C,               // roundpd xmm2,xmm0,0Ch (MXCSR.RC: nearest; quiet)
            0x66, 0x0F, 0x3A, 0x0B, 0xD9, 0x09,               // roundsd xmm3,xmm1,9 (down, quiet): low lane only
        ], first: SSE3InstructionTests.doubles([-3.5, Double(bitPattern: 0x7FF0_0000_0000_0001)]),
           second: SSE3InstructionTests.doubles([-0.5, 7]))
        let fpu = try machine.vcpu.fpu()
        #expect(fpu.xmm(2) == ((-4.0).bitPattern, 0x7FF8_0000_0000_0001), "the signaling NaN comes back quiet")
        #expect(fpu.xmm(3) == ((-1.0).bitPattern, 0), "ROUNDSD keeps the destination's upper lane (zero here)")
        #expect(fpu.mxcsr & 0x3F == 1, "invalid for the signaling NaN; imm[3] suppresses precision")
    }

    @Test func formsWithoutTheMandatoryPrefixAreInvalid() throws {
        for form: [UInt8] in [[0x0F, 0x38, 0x10, 0xC1], [0xF3, 0x0F, 0x38, 0x17, 0xC1], [0x0F, 0x3A, 0x0E, 0xC1, 0x00],
                              [0x66, 0x0F, 0x38, 0x2A, 0xC1]] {   // the last: MOVNTDQA from a register
            let machine = try LegacyModeMachine(.protected32, code: SSE3InstructionTests.enableSSE + form + [0xF4])
            #expect(try machine.run() == 6, "\(form) is #UD")
        }
        // Without CR4.OSFXSR the SSE4.1 forms are #UD.
        let machine = try LegacyModeMachine(.protected32, code: [0x66, 0x0F, 0x38, 0x17, 0xC1, 0xF4])
        #expect(try machine.run() == 6)
    }
}
