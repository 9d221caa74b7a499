import ApusTesting

/// #DE (division by zero, quotient overflow, INT_MIN / -1 at every width), #UD (UD2, opcodes invalid in 64-bit mode
/// such as INTO and the BCD group, LOCK where it is not allowed, LEA of a register), #GP from privileged instructions
/// at CPL3, and INT3 (INT n is left out: KVM here turns it into #UD in user mode). (#BR cannot happen in 64-bit mode: BOUND's
/// opcode 62 is the EVEX prefix there.)
struct ExceptionCases {
    var rng: SplitMix64

    static let invalidOpcodes: [[UInt8]] = [
        [0x06], [0x07], [0x0E], [0x16], [0x17], [0x1E], [0x1F], [0x27], [0x2F], [0x37], [0x3F], [0x60], [0x61],
        [0xCE], [0xD4, 0x0A], [0xD5, 0x0A], [0xD6], [0x82, 0xC0, 0x01], [0x9A, 0, 0, 0, 0, 0, 0], [0xEA, 0, 0, 0, 0, 0, 0],
        [0x0F, 0x0B], [0x0F, 0xB9, 0xC0], [0x8D, 0xC0], [0x8E, 0xC8], [0xF0, 0x90], [0xF0, 0x48, 0x01, 0xC0],
        [0xF0, 0x8B, 0x00], [0x0F, 0x01, 0xE8 + 0x10],
    ]
    /// Ring-0-only instructions: #GP(0) at CPL3.
    static let privileged: [([UInt8], String)] = [
        ([0xF4], "hlt"), ([0x0F, 0x20, 0xC0], "mov rax, cr0"), ([0x0F, 0x22, 0xD8], "mov cr3, rax"),
        ([0x0F, 0x30], "wrmsr"), ([0x0F, 0x32], "rdmsr"), ([0x0F, 0x06], "clts"), ([0x0F, 0x09], "wbinvd"),
        ([0x0F, 0x08], "invd"), ([0x0F, 0x01, 0x38], "invlpg [rax]"), ([0x0F, 0x01, 0x10], "lgdt [rax]"),
        ([0x0F, 0x01, 0x18], "lidt [rax]"), ([0x0F, 0x01, 0xF8], "swapgs"), ([0x0F, 0x07], "sysret"),
        ([0x48, 0x0F, 0x07], "sysretq"), ([0x0F, 0x00, 0xD8], "ltr ax"), ([0x0F, 0x00, 0xD0], "lldt ax"),
        ([0x0F, 0x21, 0xC0], "mov rax, dr0"), ([0x0F, 0x33], "rdpmc"),
    ]
    /// I/O at CPL3 with IOPL 0 and no permission bitmap: #GP(0).
    static let inputOutput: [([UInt8], String)] = [
        ([0xE4, 0x80], "in al, 0x80"), ([0xE6, 0x80], "out 0x80, al"), ([0xEC], "in al, dx"), ([0xEF], "out dx, eax"),
        ([0x6C], "insb"), ([0x6F], "outsd"),
    ]

    mutating func next() -> UserCase {
        var userCase = UserCase(group: "exceptions", code: [], description: "", registers: rng.registers())
        switch rng.below(6) {
        case 0:
            // DIV/IDIV of every width by a register that is zero or -1, or with a dividend too large.
            let width = rng.pick([1, 2, 4, 8])
            let divisor = rng.register(excluding: [0, 2])
            let signed = rng.chance(50)
            let kind = rng.below(3)
            switch kind {
            case 0: userCase.registers[divisor] = 0
            case 1:
                // The most negative dividend of the width, sign-extended through RDX, divided by -1.
                userCase.registers[divisor] = .max
                userCase.registers.rax = width == 1 ? 0xFFFF_FFFF_FFFF_FF80 : ~((UInt64(1) << UInt64(width * 8 - 1)) - 1)
                userCase.registers.rdx = .max
            default: break   // random operands: some divide, most overflow
            }
            // A byte divisor in RBP/RSI/RDI needs an empty REX to mean BPL/SIL/DIL rather than CH/DH/BH.
            let rex = X86.rex(wide: width == 8, base: divisor)
            userCase.code = (width == 2 ? [0x66] : []) + (width == 1 && rex.isEmpty && divisor >= 4 ? [0x40] : rex)
                + [width == 1 ? 0xF6 : 0xF7, UInt8(0xC0 | (signed ? 7 : 6) << 3 | (divisor & 7))]
            userCase.undefinedFlags = 0x8D5
            userCase.description = "\(signed ? "idiv" : "div")\(width * 8) r\(divisor) (\(["zero", "INT_MIN/-1", "random"][kind]))"
        case 1:
            let bytes = rng.pick(Self.invalidOpcodes)
            userCase.code = bytes
            userCase.description = "invalid \(bytes.map { hex($0, width: 2) }.joined(separator: " "))"
        case 2:
            let (bytes, name) = rng.pick(Self.privileged)
            userCase.registers.rax = UserModeLayout.data
            userCase.code = bytes
            userCase.description = name
        case 3:
            let (bytes, name) = rng.pick(Self.inputOutput)
            userCase.registers.rflags &= ~0x3000
            userCase.registers.rsi = UserModeLayout.data
            userCase.registers.rdi = UserModeLayout.data
            userCase.code = bytes
            userCase.description = name
        case 4:
            // INT3 only: this host's KVM answers every INT n from user mode with #UD, so it cannot referee them.
            userCase.code = X86.int3
            userCase.description = "int3"
        default:
            // SGDT/SIDT are allowed at CPL3 (no UMIP) and store the table registers.
            let instruction: SensitiveInstruction = rng.chance(50) ? .sgdt : .sidt
            userCase.registers.rax = UserModeLayout.data + UInt64(rng.below(0x100))
            userCase.code = instruction.code
            userCase.description = "\(instruction) [rax]"
            userCase.sensitive = instruction
        }
        return userCase
    }
}
