import ApusTesting
@testable import ApusSoftCPU

/// Random straight-line guest blocks of the translation tier's subset, with what they leave undefined in RFLAGS
/// (those flags are not compared: the SDM leaves them to the implementation).
struct RandomBlock {
    var bytes: [UInt8] = []
    var instructions = 0
    /// Arithmetic flags whose value the SDM does not define after the block.
    var undefinedFlags: UInt64 = 0

    static let all: UInt64 = Flag.arithmetic
    static let cf = Flag.cf, of = Flag.of, af = Flag.af

    /// Appends one instruction; `reader` ones read flags and are only made while every flag is defined.
    private mutating func append(_ bytes: [UInt8], defines: UInt64, undefines: UInt64) {
        self.bytes += bytes
        instructions += 1
        undefinedFlags = (undefinedFlags & ~defines) | undefines
    }

    static func make(_ random: inout SplitMix64, length: Int) -> RandomBlock {
        var block = RandomBlock()
        for _ in 0..<length { block.appendRandom(&random) }
        if Bool.random(using: &random) && block.undefinedFlags == 0 {
            // A Jcc or JMP ends it half the time (it reads the flags, so only while they are all defined).
            let condition = UInt8.random(in: 0...15, using: &random)
            switch Int.random(in: 0..<4, using: &random) {
            case 0: block.append([0x70 | condition, UInt8.random(in: 0...255, using: &random)], defines: 0, undefines: 0)
            case 1: block.append([0x0F, 0x80 | condition] + (0..<4).map { _ in UInt8.random(in: 0...255, using: &random) }, defines: 0, undefines: 0)
            case 2: block.append([0xEB, UInt8.random(in: 0...255, using: &random)], defines: 0, undefines: 0)
            default: block.append([0xE9] + (0..<4).map { _ in UInt8.random(in: 0...255, using: &random) }, defines: 0, undefines: 0)
            }
        }
        return block
    }

    private mutating func appendRandom(_ random: inout SplitMix64) {
        let canRead = undefinedFlags == 0
        // Prefixes: REX (any of W, R, X, B) half the time, 66 a quarter of the time.
        let size66 = Int.random(in: 0..<4, using: &random) == 0
        let rex: UInt8? = Bool.random(using: &random) ? 0x40 | UInt8.random(in: 0...15, using: &random) : nil
        let w = (rex ?? 0) & 8 != 0
        let immediateSize = w ? 4 : (size66 ? 2 : 4)
        func prefixes(noSize: Bool = false) -> [UInt8] { (size66 && !noSize ? [0x66] : []) + (rex.map { [$0] } ?? []) }
        func modrm(_ reg: UInt8? = nil) -> UInt8 {
            0xC0 | (reg ?? UInt8.random(in: 0...7, using: &random)) << 3 | UInt8.random(in: 0...7, using: &random)
        }
        func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) } }
        let logic: Set<UInt8> = [1, 4, 6]
        switch Int.random(in: 0..<24, using: &random) {
        case 0, 1:   // ALU r/m, r and r, r/m (all sizes)
            let operation = UInt8.random(in: 0...7, using: &random)
            if !canRead && (operation == 2 || operation == 3) { return appendRandom(&random) }
            let opcode = operation << 3 | UInt8.random(in: 0...3, using: &random)
            append(prefixes() + [opcode, modrm()], defines: Self.all, undefines: logic.contains(operation) ? Self.af : 0)
        case 2:      // ALU accumulator, imm
            let operation = UInt8.random(in: 0...7, using: &random)
            if !canRead && (operation == 2 || operation == 3) { return appendRandom(&random) }
            let wide = Bool.random(using: &random)
            append(prefixes() + [operation << 3 | (wide ? 5 : 4)] + bytes(wide ? immediateSize : 1), defines: Self.all,
                   undefines: logic.contains(operation) ? Self.af : 0)
        case 3:      // ALU r/m, imm (80, 81, 83)
            let operation = UInt8.random(in: 0...7, using: &random)
            if !canRead && (operation == 2 || operation == 3) { return appendRandom(&random) }
            let opcode: UInt8 = [0x80, 0x81, 0x83].randomElement(using: &random)!
            append(prefixes() + [opcode, modrm(operation)] + bytes(opcode == 0x81 ? immediateSize : 1), defines: Self.all,
                   undefines: logic.contains(operation) ? Self.af : 0)
        case 4:      // MOV r/m, r; r, r/m; TEST; XCHG
            let opcode = UInt8.random(in: 0x84...0x8B, using: &random)
            append(prefixes() + [opcode, modrm()], defines: opcode <= 0x85 ? Self.all : 0,
                   undefines: opcode <= 0x85 ? Self.af : 0)
        case 5:      // MOV r, imm
            let opcode = UInt8.random(in: 0xB0...0xBF, using: &random)
            append(prefixes() + [opcode] + bytes(opcode < 0xB8 ? 1 : (w ? 8 : immediateSize)), defines: 0, undefines: 0)
        case 6:      // MOV r/m, imm (C6/C7 /0)
            let byte = Bool.random(using: &random)
            append(prefixes() + [byte ? 0xC6 : 0xC7, modrm(0)] + bytes(byte ? 1 : immediateSize), defines: 0, undefines: 0)
        case 7:      // INC/DEC, NOT, NEG
            let byte = Bool.random(using: &random)
            switch Int.random(in: 0..<3, using: &random) {
            case 0: append(prefixes() + [byte ? 0xFE : 0xFF, modrm(UInt8.random(in: 0...1, using: &random))],
                           defines: Self.all & ~Self.cf, undefines: 0)
            case 1: append(prefixes() + [byte ? 0xF6 : 0xF7, modrm(2)], defines: 0, undefines: 0)
            default: append(prefixes() + [byte ? 0xF6 : 0xF7, modrm(3)], defines: Self.all, undefines: 0)
            }
        case 8:      // TEST r/m, imm; TEST accumulator, imm
            let byte = Bool.random(using: &random)
            if Bool.random(using: &random) {
                append(prefixes() + [byte ? 0xF6 : 0xF7, modrm(0)] + bytes(byte ? 1 : immediateSize), defines: Self.all, undefines: Self.af)
            } else {
                append(prefixes() + [byte ? 0xA8 : 0xA9] + bytes(byte ? 1 : immediateSize), defines: Self.all, undefines: Self.af)
            }
        case 9:      // shift/rotate by imm8 or 1
            var operation = UInt8.random(in: 0...7, using: &random)
            if operation == 6 { operation = 4 }
            if !canRead && (operation == 2 || operation == 3) { return appendRandom(&random) }
            let byte = Bool.random(using: &random)
            let byOne = Bool.random(using: &random)
            let count: UInt8 = byOne ? 1 : UInt8.random(in: 0...255, using: &random)
            let masked = count & (w ? 63 : 31)
            let opcode: UInt8 = (byOne ? 0xD0 : 0xC0) | (byte ? 0 : 1)
            let bits = byte ? 8 : (w ? 64 : (size66 ? 16 : 32))
            var defines: UInt64 = 0, undefines: UInt64 = 0
            if masked != 0 {
                if operation >= 4 {
                    defines = Self.all & ~Self.af
                    undefines = Self.af
                    if Int(masked) >= bits { undefines |= Self.cf }   // CF undefined past the width
                } else {
                    defines = Self.cf | Self.of
                }
                if masked != 1 { undefines |= Self.of }
                if operation < 4 && Int(masked) >= bits { undefines |= Self.cf }
                defines &= ~undefines
            }
            append(prefixes() + [opcode, modrm(operation)] + (byOne ? [] : [count]), defines: defines, undefines: undefines)
        case 10:     // shift/rotate by CL: the count is only known at run time
            var operation = UInt8.random(in: 0...7, using: &random)
            if operation == 6 { operation = 4 }
            if !canRead && (operation == 2 || operation == 3) { return appendRandom(&random) }
            let byte = Bool.random(using: &random)
            append(prefixes() + [byte ? 0xD2 : 0xD3, modrm(operation)], defines: 0, undefines: Self.all)
        case 11:     // IMUL r, r/m; IMUL r, r/m, imm
            switch Int.random(in: 0..<3, using: &random) {
            case 0: append(prefixes() + [0x0F, 0xAF, modrm()], defines: Self.cf | Self.of, undefines: Self.all & ~(Self.cf | Self.of))
            case 1: append(prefixes() + [0x6B, modrm()] + bytes(1), defines: Self.cf | Self.of, undefines: Self.all & ~(Self.cf | Self.of))
            default: append(prefixes() + [0x69, modrm()] + bytes(immediateSize), defines: Self.cf | Self.of, undefines: Self.all & ~(Self.cf | Self.of))
            }
        case 12:     // MUL, IMUL r/m (RDX:RAX)
            append(prefixes() + [Bool.random(using: &random) ? 0xF6 : 0xF7, modrm(UInt8.random(in: 4...5, using: &random))],
                   defines: Self.cf | Self.of, undefines: Self.all & ~(Self.cf | Self.of))
        case 13:     // MOVZX, MOVSX, MOVSXD
            let opcode: UInt8 = [0xB6, 0xB7, 0xBE, 0xBF].randomElement(using: &random)!
            if Bool.random(using: &random) {
                append(prefixes() + [0x0F, opcode, modrm()], defines: 0, undefines: 0)
            } else {
                append(prefixes() + [0x63, modrm()], defines: 0, undefines: 0)
            }
        case 14:     // LEA (register bases, SIB, RIP-relative, 67)
            append(leaBytes(&random, prefixes: prefixes()), defines: 0, undefines: 0)
        case 15:     // SETcc, CMOVcc (read the flags)
            if !canRead { return appendRandom(&random) }
            let condition = UInt8.random(in: 0...15, using: &random)
            if Bool.random(using: &random) {
                append(prefixes() + [0x0F, 0x90 | condition, modrm(0)], defines: 0, undefines: 0)
            } else {
                append(prefixes() + [0x0F, 0x40 | condition, modrm()], defines: 0, undefines: 0)
            }
        case 16:     // XCHG rAX, r / NOP
            append(prefixes() + [UInt8.random(in: 0x90...0x97, using: &random)], defines: 0, undefines: 0)
        case 17:     // BSWAP (no 66: undefined on 16-bit registers)
            append(prefixes(noSize: true) + [0x0F, UInt8.random(in: 0xC8...0xCF, using: &random)], defines: 0, undefines: 0)
        case 18:     // CBW/CWDE/CDQE, CWD/CDQ/CQO
            append(prefixes() + [Bool.random(using: &random) ? 0x98 : 0x99], defines: 0, undefines: 0)
        case 19:     // CLC, STC, CMC
            let opcode: UInt8 = canRead ? [0xF5, 0xF8, 0xF9].randomElement(using: &random)! : [0xF8, 0xF9].randomElement(using: &random)!
            append([opcode], defines: Self.cf, undefines: 0)
        case 20:     // BT, BTS, BTR, BTC r/m, r and r/m, imm8 (16-bit and wider)
            let undefined = Self.all & ~Self.cf
            if Bool.random(using: &random) {
                let opcode: UInt8 = [0xA3, 0xAB, 0xB3, 0xBB].randomElement(using: &random)!
                append(prefixes() + [0x0F, opcode, modrm()], defines: Self.cf, undefines: undefined)
            } else {
                append(prefixes() + [0x0F, 0xBA, modrm(UInt8.random(in: 4...7, using: &random))] + bytes(1),
                       defines: Self.cf, undefines: undefined)
            }
        case 21:     // the multi-byte NOP
            append(prefixes() + [0x0F, 0x1F, 0x44, 0x00, 0x00], defines: 0, undefines: 0)
        default:     // more plain ALU between registers: the common case in real code
            let operation = UInt8.random(in: 0...7, using: &random)
            if !canRead && (operation == 2 || operation == 3) { return appendRandom(&random) }
            append(prefixes() + [operation << 3 | 1, modrm()], defines: Self.all, undefines: logic.contains(operation) ? Self.af : 0)
        }
    }

    private func leaBytes(_ random: inout SplitMix64, prefixes: [UInt8]) -> [UInt8] {
        let reg = UInt8.random(in: 0...7, using: &random)
        let address32: [UInt8] = Int.random(in: 0..<4, using: &random) == 0 ? [0x67] : []
        func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) } }
        switch Int.random(in: 0..<4, using: &random) {
        case 0:   // [rip + disp32]
            return address32 + prefixes + [0x8D, reg << 3 | 5] + bytes(4)
        case 1:   // [base + index * scale + disp] through a SIB byte (base 5 only with a displacement)
            let mod = UInt8.random(in: 1...2, using: &random)
            let sib = UInt8.random(in: 0...255, using: &random)
            return address32 + prefixes + [0x8D, mod << 6 | reg << 3 | 4, sib] + bytes(mod == 1 ? 1 : 4)
        default:  // [base + disp]
            let mod = UInt8.random(in: 0...2, using: &random)
            var rm = UInt8.random(in: 0...7, using: &random)
            if rm == 4 || (rm == 5 && mod == 0) { rm = 3 }
            return address32 + prefixes + [0x8D, mod << 6 | reg << 3 | rm] + bytes(mod == 1 ? 1 : (mod == 2 ? 4 : 0))
        }
    }
}
