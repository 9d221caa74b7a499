import Testing

/// The CPL3 runner's encoder against LLVM's assembler: each expected byte string is what `clang -c` produced for the
/// Intel-syntax instruction in its label (disassembled with llvm-objdump).
@Suite struct X86EncoderTests {
    @Test func formsMatchTheAssembler() {
        let table: [(String, [UInt8], [UInt8])] = [
            ("mov r13, 0x1122334455667788", X86.move(13, 0x1122_3344_5566_7788), [0x49, 0xBD, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]),
            ("mov rax, 0x1122334455667788", X86.move(0, 0x1122_3344_5566_7788), [0x48, 0xB8, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]),
            ("push r12", X86.push(12), [0x41, 0x54]),
            ("pop rbx", X86.pop(3), [0x5B]),
            ("add r9, r10", X86.registers([0x01], reg: 10, rm: 9, wide: true), [0x4D, 0x01, 0xD1]),
            ("cmp ecx, r11d", X86.registers([0x39], reg: 11, rm: 1, wide: false), [0x44, 0x39, 0xD9]),
            ("mov rdx, [r12 - 0x1000]", X86.based([0x8B], reg: 2, base: 12, displacement: -0x1000, wide: true),
             [0x49, 0x8B, 0x94, 0x24, 0x00, 0xF0, 0xFF, 0xFF]),
            ("cmpxchg [rsp + 0x104], esi", X86.based([0x0F, 0xB1], reg: 6, base: 4, displacement: 0x104, wide: false),
             [0x0F, 0xB1, 0xB4, 0x24, 0x04, 0x01, 0x00, 0x00]),
            ("mov eax, [rbp + 0x100]", X86.based([0x8B], reg: 0, base: 5, displacement: 0x100, wide: false),
             [0x8B, 0x85, 0x00, 0x01, 0x00, 0x00]),
            ("add [r13 + 0x200], r9", X86.based([0x01], reg: 9, base: 13, displacement: 0x200, wide: true),
             [0x4D, 0x01, 0x8D, 0x00, 0x02, 0x00, 0x00]),
            ("mov qword ptr [0x200010], r8", X86.absolute([0x89], reg: 8, address: 0x200010, wide: true),
             [0x4C, 0x89, 0x04, 0x25, 0x10, 0x00, 0x20, 0x00]),
            ("jmp qword ptr [0x200010]", X86.absolute([0xFF], reg: 4, address: 0x200010, wide: false),
             [0xFF, 0x24, 0x25, 0x10, 0x00, 0x20, 0x00]),
            ("call rcx", X86.registers([0xFF], reg: 2, rm: 1, wide: false), [0xFF, 0xD1]),
            ("jmp r11", X86.registers([0xFF], reg: 4, rm: 11, wide: false), [0x41, 0xFF, 0xE3]),
            ("iretq", X86.iretq, [0x48, 0xCF]),
            ("ret 0x10", X86.returnReleasing(0x10), [0xC2, 0x10, 0x00]),
            ("int 0x80", X86.int(0x80), [0xCD, 0x80]),
            ("jne +10 (short)", X86.jumpShort(if: 5, 10), [0x75, 0x0A]),
            ("jg +10 (near)", X86.jump(if: 0xF, 10), [0x0F, 0x8F, 0x0A, 0x00, 0x00, 0x00]),
            ("call +5", X86.call(5), [0xE8, 0x05, 0x00, 0x00, 0x00]),
        ]
        for (instruction, encoded, expected) in table {
            #expect(encoded == expected, "\(instruction)")
        }
    }
}
