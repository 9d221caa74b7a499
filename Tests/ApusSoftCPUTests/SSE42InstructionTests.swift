import ApusCore
import ApusSoftCPU
import Testing

/// SSE4.2: CRC32 against the CRC-32C check value, PCMPGTQ, and the string comparisons in each aggregation,
/// polarity and output mode, with results worked from the SDM's definitions.
@Suite struct SSE42InstructionTests {
    typealias SSSE3 = SSSE3InstructionTests

    static func text(_ string: String) -> [UInt8] {
        let bytes = Array(string.utf8)
        return bytes + [UInt8](repeating: 0, count: 16 - bytes.count)
    }

    @Test func crc32OfTheCheckStringInBytesDwordsAndWords() throws {
        let code: [UInt8] = [
            0xB9, 0xFF, 0xFF, 0xFF, 0xFF,                     // mov ecx,-1
            0xF2, 0x0F, 0x38, 0xF1, 0x0D, 0x00, 0x30, 0, 0,   // crc32 ecx,dword [3000h]
            0xF2, 0x0F, 0x38, 0xF1, 0x0D, 0x04, 0x30, 0, 0,   // crc32 ecx,dword [3004h]
            0xF2, 0x0F, 0x38, 0xF0, 0x0D, 0x08, 0x30, 0, 0,   // crc32 ecx,byte [3008h]
            0xF7, 0xD1,                                       // not ecx
            0xBA, 0xFF, 0xFF, 0xFF, 0xFF,                     // mov edx,-1
            0x66, 0xF2, 0x0F, 0x38, 0xF1, 0x15, 0x00, 0x30, 0, 0,   // crc32 edx,word [3000h]
            0x66, 0xF2, 0x0F, 0x38, 0xF1, 0x15, 0x02, 0x30, 0, 0,   // crc32 edx,word [3002h]
            0x66, 0xF2, 0x0F, 0x38, 0xF1, 0x15, 0x04, 0x30, 0, 0,   // crc32 edx,word [3004h]
            0x66, 0xF2, 0x0F, 0x38, 0xF1, 0x15, 0x06, 0x30, 0, 0,   // crc32 edx,word [3006h]
            0xB0, 0x39, 0xF2, 0x0F, 0x38, 0xF0, 0xD0,         // mov al,'9'; crc32 edx,al
            0xF7, 0xD2,                                       // not edx
            0xF4,
        ]
        let machine = try LegacyModeMachine(.protected32, code: code)
        try machine.memory.write(Array("123456789".utf8), at: GuestAddress(0x3000))
        #expect(try machine.run() == nil)
        let registers = try machine.registers
        #expect(registers.rcx == 0xE306_9283, "CRC-32C of \"123456789\"")
        #expect(registers.rdx == 0xE306_9283)
    }

    @Test func signedQuadwordGreaterThan() throws {
        let machine = try SSSE3.run([0x0F, 0x28, 0xD0, 0x66, 0x0F, 0x38, 0x37, 0xD1],   // movaps xmm2,xmm0; pcmpgtq
                                    first: SSE41InstructionTests.qwords([5, -1]),
                                    second: SSE41InstructionTests.qwords([-3, 0]))
        #expect(try machine.vcpu.fpu().xmm(2) == (~0, 0))
    }

    /// Runs each comparison (`66 0F 3A op C1 imm`: xmm0 against xmm1) after loading the operands, and returns ECX
    /// and the arithmetic flags after each.
    static func compare(_ forms: [(op: UInt8, immediate: UInt8)], first: [UInt8], second: [UInt8],
                        eax: UInt32 = 0, edx: UInt32 = 0) throws -> [(ecx: UInt64, flags: UInt64)] {
        var body: [UInt8] = [0xB8] + SSSE3.dwords([Int32(bitPattern: eax)]) + [0xBA] + SSSE3.dwords([Int32(bitPattern: edx)])
        for (index, form) in forms.enumerated() {
            body += [0xB9, 0xEE, 0xEE, 0, 0]                                   // mov ecx,0EEEEh
            body += [0x66, 0x0F, 0x3A, form.op, 0xC1, form.immediate]
            body += [0x89, 0x0D] + SSSE3.dwords([Int32(0x4000 + index * 8)])  // mov [4000h+8i],ecx
            body += [0x9C, 0x8F, 0x05] + SSSE3.dwords([Int32(0x4004 + index * 8)])   // pushfd; pop [4004h+8i]
        }
        let machine = try SSSE3.run(body, first: first, second: second)
        return try forms.indices.map { index in
            let bytes = try machine.memory.readBytes(at: GuestAddress(0x4000 + UInt64(index) * 8), count: 8)
            let words = SSSE3InstructionTests.lanes32(bytes).map { UInt64(UInt32(bitPattern: $0)) }
            return (words[0], words[1] & 0x8D5)
        }
    }

    static let cf: UInt64 = 1, zf: UInt64 = 0x40, sf: UInt64 = 0x80, of: UInt64 = 0x800

    @Test func implicitLengthAggregations() throws {
        // Equal any: the first vowel of "hello world".
        var results = try Self.compare([(0x63, 0x00), (0x63, 0x40), (0x63, 0x10)],
                                       first: Self.text("aeiou"), second: Self.text("hello world"))
        #expect(results[0] == (1, Self.cf | Self.zf | Self.sf))
        #expect(results[1] == (7, Self.cf | Self.zf | Self.sf), "the last vowel: 'o' of world")
        #expect(results[2] == (0, Self.cf | Self.zf | Self.sf | Self.of), "negative: 'h' is no vowel")
        // Ranges: lowercase letters in "ABCdef".
        results = try Self.compare([(0x63, 0x04), (0x63, 0x44), (0x63, 0x34), (0x63, 0x14)],
                                   first: Self.text("az"), second: Self.text("ABCdef"))
        #expect(results[0] == (3, Self.cf | Self.zf | Self.sf))
        #expect(results[1] == (5, Self.cf | Self.zf | Self.sf))
        #expect(results[2] == (0, Self.cf | Self.zf | Self.sf | Self.of), "masked negative: 'A'")
        // Equal each: where "hello" and "help" first differ; masked negative flips only the 4 valid elements.
        results = try Self.compare([(0x63, 0x38), (0x63, 0x08)], first: Self.text("hello"), second: Self.text("help"))
        #expect(results[0] == (3, Self.cf | Self.zf | Self.sf))
        #expect(results[1] == (0, Self.cf | Self.zf | Self.sf | Self.of))
        // Equal ordered: "lo" in "hello world".
        results = try Self.compare([(0x63, 0x0C)], first: Self.text("lo"), second: Self.text("hello world"))
        #expect(results[0] == (3, Self.cf | Self.zf | Self.sf))
        // Signed words, ranges: -5...5 over [-7, -5, 0, 6, 5, 0...].
        results = try Self.compare([(0x63, 0x07), (0x63, 0x47)], first: SSSE3.words([-5, 5, 0, 0, 0, 0, 0, 0]),
                                   second: SSSE3.words([-7, -5, 3, 6, 5, 0, 0, 0]))
        #expect(results[0] == (1, Self.cf | Self.zf | Self.sf))
        #expect(results[1] == (4, Self.cf | Self.zf | Self.sf))
    }

    @Test func explicitLengthsSaturateAndSetTheFlags() throws {
        // EAX 3 ("abc"), EDX -20: magnitude 20, saturated to 16, so no element of the second operand is invalid.
        let results = try Self.compare([(0x61, 0x00), (0x61, 0x10)], first: Array("abcdefghijklmnop".utf8),
                                       second: Array("xxxxcxxxxxxxxxxx".utf8), eax: 3, edx: UInt32(bitPattern: -20))
        #expect(results[0] == (4, Self.cf | Self.sf))
        #expect(results[1] == (0, Self.cf | Self.sf | Self.of))
        // No match at all: the index is the element count and CF clear.
        let none = try Self.compare([(0x61, 0x00)], first: Array("abcdefghijklmnop".utf8),
                                    second: Array("xxxxxxxxxxxxxxxx".utf8), eax: 3, edx: 16)
        #expect(none[0] == (16, Self.sf))
    }

    @Test func masksAsBitsOrElements() throws {
        let machine = try SSSE3.run([
            0x66, 0x0F, 0x3A, 0x62, 0xC1, 0x00,               // pcmpistrm xmm0,xmm1,0: bit mask
            0x0F, 0x28, 0xD0,                                 // movaps xmm2,xmm0
            0x0F, 0x10, 0x05, 0x00, 0x20, 0, 0,               // movups xmm0,[2000h]
            0x66, 0x0F, 0x3A, 0x62, 0xC1, 0x41,               // pcmpistrm xmm0,xmm1,41h: word mask
        ], first: SSSE3.words([Int16(UInt8(ascii: "e")), 0, 0, 0, 0, 0, 0, 0]),
           second: SSSE3.words("hello".utf8.map { Int16($0) } + [0, 0, 0]))
        let fpu = try machine.vcpu.fpu()
        // Byte elements: 'e' 00h makes the set 'e' alone; the string 'h' 00h ends at its second byte, without an 'e'.
        #expect(fpu.xmm(2) == (0, 0))
        #expect(SSSE3.bytes(fpu.xmm(0)) == SSSE3.words([0, -1, 0, 0, 0, 0, 0, 0]))
    }
}
