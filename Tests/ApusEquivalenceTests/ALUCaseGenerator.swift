import ApusCore
import ApusTesting

/// One generated instruction and the flags the SDM leaves undefined for it (which hardware may set either way).
struct ALUCase {
    var code: [UInt8]
    var description: String
    var undefinedFlags: UInt64
    /// Whether the instruction reads or writes the runner's data page.
    var usesData = false
}

/// Seeded random ALU, shift, rotate and unary instructions on 64- and 32-bit registers, encoded by hand.
struct ALUCaseGenerator {
    static let registers = [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]   // every GPR but RSP
    static let aluNames = ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"]
    static let shiftNames = ["rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"]
    static let af: UInt64 = 0x10, of: UInt64 = 0x800

    var rng: SplitMix64

    mutating func pick<T>(_ choices: [T]) -> T { choices[Int(rng.next() % UInt64(choices.count))] }

    /// REX prefix for a register-direct ModRM with `reg` and `rm`; nil when a 32-bit form needs none.
    func rex(wide: Bool, reg: Int, rm: Int) -> [UInt8] {
        let value = UInt8(0x40 | (wide ? 8 : 0) | (reg >= 8 ? 4 : 0) | (rm >= 8 ? 1 : 0))
        return value == 0x40 ? [] : [value]
    }

    mutating func next() -> ALUCase {
        let wide = rng.next() % 2 == 0
        let destination = pick(Self.registers), source = pick(Self.registers)
        let modrm = { (reg: Int) in UInt8(0xC0 | (reg & 7) << 3 | (destination & 7)) }
        switch rng.next() % 15 {
        case 0:
            let operation = Int(rng.next() % 8)
            let logic = [1, 4, 6].contains(operation)
            return ALUCase(code: rex(wide: wide, reg: source, rm: destination) + [UInt8(operation * 8 + 1), modrm(source)],
                           description: "\(Self.aluNames[operation]) r\(destination), r\(source) \(wide ? 64 : 32)",
                           undefinedFlags: logic ? Self.af : 0)
        case 1:
            let operation = Int(rng.next() % 8)
            let immediate = UInt8(truncatingIfNeeded: rng.next())
            return ALUCase(code: rex(wide: wide, reg: 0, rm: destination) + [0x83, modrm(operation), immediate],
                           description: "\(Self.aluNames[operation]) r\(destination), \(Int8(bitPattern: immediate))",
                           undefinedFlags: [1, 4, 6].contains(operation) ? Self.af : 0)
        case 2:
            let operation = Int(rng.next() % 8)
            let count = UInt8(rng.next() % 3 == 0 ? 1 : rng.next() % 70)
            let masked = Int(count) & (wide ? 63 : 31)
            var undefined: UInt64 = masked == 1 ? 0 : Self.of
            if operation >= 4 { undefined |= Self.af }
            if masked == 0 { undefined = 0 }
            return ALUCase(code: rex(wide: wide, reg: 0, rm: destination) + [0xC1, modrm(operation), count],
                           description: "\(Self.shiftNames[operation]) r\(destination), \(count)", undefinedFlags: undefined)
        case 3:
            let forms: [(UInt8, Int, String)] = [(0xFF, 0, "inc"), (0xFF, 1, "dec"), (0xF7, 3, "neg"), (0xF7, 2, "not")]
            let (opcode, extension_, name) = pick(forms)
            return ALUCase(code: rex(wide: wide, reg: 0, rm: destination) + [opcode, modrm(extension_)],
                           description: "\(name) r\(destination)", undefinedFlags: 0)
        case 5:
            return conditionCase(wide: wide, destination: destination, source: source)
        case 6:
            return bitCase(wide: wide, destination: destination, source: source)
        case 7:
            return narrowCase(destination: destination, source: source)
        case 8:
            return multiplyDivideCase(wide: wide, destination: destination)
        case 9:
            return stringCase()
        case 10:
            return stackCase(destination: destination, source: source)
        case 11:
            return exchangeCase(wide: wide, destination: destination, source: source)
        case 12:
            return doubleShiftCase(wide: wide, destination: destination, source: source)
        case 13:
            return controlCase()
        default:
            // IMUL r, r/m: SF ZF AF PF are undefined; CF and OF say whether the product was truncated.
            let code = rex(wide: wide, reg: destination, rm: source)
                + [0x0F, 0xAF, UInt8(0xC0 | (destination & 7) << 3 | (source & 7))]
            return ALUCase(code: code, description: "imul r\(destination), r\(source)", undefinedFlags: 0xD4)
        }
    }

    /// CMP, then SETcc into a byte register and CMOVcc: every condition code against real flags.
    mutating func conditionCase(wide: Bool, destination: Int, source: Int) -> ALUCase {
        let condition = UInt8(rng.next() % 16)
        let byteRegister = pick([0, 1, 2, 3, 8, 9, 10])
        let compare = rex(wide: wide, reg: source, rm: destination) + [0x39, UInt8(0xC0 | (source & 7) << 3 | (destination & 7))]
        let set = (byteRegister >= 8 ? [0x41] : []) + [0x0F, 0x90 + condition, UInt8(0xC0 | (byteRegister & 7))]
        let move = rex(wide: wide, reg: destination, rm: source)
            + [0x0F, 0x40 + condition, UInt8(0xC0 | (destination & 7) << 3 | (source & 7))]
        return ALUCase(code: compare + set + move, description: "cmp/set/cmov cc=\(condition)", undefinedFlags: 0)
    }

    /// BT/BTS/BTR/BTC with an immediate (CF defined, the rest undefined) or BSF/BSR (only ZF defined; the destination
    /// is left unchanged for a zero source on Intel, which is what KVM on this host runs on).
    mutating func bitCase(wide: Bool, destination: Int, source: Int) -> ALUCase {
        if rng.next() % 2 == 0 {
            let operation = 4 + Int(rng.next() % 4)
            let bit = UInt8(rng.next() % 64)
            let code = rex(wide: wide, reg: 0, rm: destination) + [0x0F, 0xBA, UInt8(0xC0 | operation << 3 | (destination & 7)), bit]
            return ALUCase(code: code, description: "bt-group /\(operation) r\(destination), \(bit)", undefinedFlags: 0x8D4)
        }
        let opcode: UInt8 = rng.next() % 2 == 0 ? 0xBC : 0xBD
        let code = rex(wide: wide, reg: destination, rm: source) + [0x0F, opcode, UInt8(0xC0 | (destination & 7) << 3 | (source & 7))]
        return ALUCase(code: code, description: "\(opcode == 0xBC ? "bsf" : "bsr") r\(destination), r\(source)",
                       undefinedFlags: 0x895)
    }

    /// 8-bit (including AH..BH without REX) and 16-bit ALU forms.
    mutating func narrowCase(destination: Int, source: Int) -> ALUCase {
        let operation = Int(rng.next() % 8)
        let logic: UInt64 = [1, 4, 6].contains(operation) ? Self.af : 0
        if rng.next() % 2 == 0 {
            let reg = Int(rng.next() % 8), rm = Int(rng.next() % 8)   // no REX: 4-7 are AH CH DH BH
            return ALUCase(code: [UInt8(operation * 8), UInt8(0xC0 | reg << 3 | rm)],
                           description: "\(Self.aluNames[operation]) r8 \(rm), r8 \(reg)", undefinedFlags: logic)
        }
        return ALUCase(code: [0x66] + rex(wide: false, reg: source, rm: destination)
                       + [UInt8(operation * 8 + 1), UInt8(0xC0 | (source & 7) << 3 | (destination & 7))],
                       description: "\(Self.aluNames[operation]) r16 \(destination), r16 \(source)", undefinedFlags: logic)
    }

    /// MUL (CF/OF defined) or DIV with RDX cleared and an odd divisor, so it never faults (all flags undefined).
    mutating func multiplyDivideCase(wide: Bool, destination: Int) -> ALUCase {
        let divisor = [1, 3, 5, 6, 7, 8, 9][Int(rng.next() % 7)]
        if rng.next() % 2 == 0 {
            let code = rex(wide: wide, reg: 0, rm: divisor) + [0xF7, UInt8(0xE0 | (divisor & 7))]
            return ALUCase(code: code, description: "mul r\(divisor)", undefinedFlags: 0xD4)
        }
        let makeOdd = rex(wide: wide, reg: 0, rm: divisor) + [0x83, UInt8(0xC8 | (divisor & 7)), 0x01]   // or r, 1
        let clear: [UInt8] = [0x31, 0xD2]                                                                 // xor edx, edx
        let divide = rex(wide: wide, reg: 0, rm: divisor) + [0xF7, UInt8(0xF0 | (divisor & 7))]
        return ALUCase(code: makeOdd + clear + divide, description: "div r\(divisor)", undefinedFlags: 0x8D5)
    }

    /// MOVS, STOS or LODS (with or without REP, either direction, byte to qword) inside the data page.
    mutating func stringCase() -> ALUCase {
        func load(_ register: UInt8, _ value: UInt32) -> [UInt8] {
            [0x48, 0xC7, 0xC0 | register] + withUnsafeBytes(of: value.littleEndian, Array.init)
        }
        let backwards = rng.next() % 2 == 0
        let count = UInt32(rng.next() % 40)
        let forms: [([UInt8], String)] = [([0xA4], "movsb"), ([0xA5], "movsd"), ([0x48, 0xA5], "movsq"), ([0x66, 0xA5], "movsw"),
                                          ([0xAA], "stosb"), ([0xAB], "stosd"), ([0x48, 0xAB], "stosq"), ([0xAC], "lodsb"),
                                          ([0x48, 0xAD], "lodsq"), ([0xA6], "cmpsb"), ([0xA7], "cmpsd"),
                                          ([0x48, 0xA7], "cmpsq"), ([0xAE], "scasb"), ([0xAF], "scasd")]
        let (body, name) = pick(forms)
        let repeated = !name.hasPrefix("lods") && rng.next() % 4 != 0
        var code = load(6, 0x200400 + UInt32(rng.next() % 64)) + load(7, 0x200900 + UInt32(rng.next() % 64))
        code += [0xB9] + withUnsafeBytes(of: count.littleEndian, Array.init)
        if backwards { code += [0xFD] }
        let compares = name.hasPrefix("cmps") || name.hasPrefix("scas")
        code += (repeated ? [compares && rng.next() % 2 == 0 ? 0xF2 : 0xF3] : []) + body
        return ALUCase(code: code, description: "\(repeated ? "rep " : "")\(name) x\(count)\(backwards ? " std" : "")",
                       undefinedFlags: 0, usesData: true)
    }

    /// XADD and CMPXCHG between registers; half the CMPXCHG cases first make the accumulator match.
    mutating func exchangeCase(wide: Bool, destination: Int, source: Int) -> ALUCase {
        let modrm = UInt8(0xC0 | (source & 7) << 3 | (destination & 7))
        if rng.next() % 2 == 0 {
            return ALUCase(code: rex(wide: wide, reg: source, rm: destination) + [0x0F, 0xC1, modrm],
                           description: "xadd r\(destination), r\(source)", undefinedFlags: 0)
        }
        var code: [UInt8] = []
        if rng.next() % 2 == 0 {   // mov destination, rax
            code += rex(wide: true, reg: 0, rm: destination) + [0x89, UInt8(0xC0 | (destination & 7))]
        }
        code += rex(wide: wide, reg: source, rm: destination) + [0x0F, 0xB1, modrm]
        return ALUCase(code: code, description: "cmpxchg r\(destination), r\(source)", undefinedFlags: 0)
    }

    /// SHLD/SHRD by an immediate or CL. OF is defined only for a count of one; AF never.
    mutating func doubleShiftCase(wide: Bool, destination: Int, source: Int) -> ALUCase {
        let opcode: UInt8 = [0xA4, 0xAC][Int(rng.next() % 2)]
        let count = UInt8(rng.next() % 3 == 0 ? 1 : rng.next() % 64)
        let masked = Int(count) & (wide ? 63 : 31)
        let code = rex(wide: wide, reg: source, rm: destination)
            + [0x0F, opcode, UInt8(0xC0 | (source & 7) << 3 | (destination & 7)), count]
        let undefined: UInt64 = masked == 0 ? 0 : (masked == 1 ? Self.af : Self.af | Self.of)
        return ALUCase(code: code, description: "\(opcode == 0xA4 ? "shld" : "shrd") r\(destination), r\(source), \(count)",
                       undefinedFlags: undefined)
    }

    /// LOOP, LOOPE, LOOPNE around a small body, JRCXZ, and XLAT from the data page.
    mutating func controlCase() -> ALUCase {
        switch rng.next() % 3 {
        case 0:
            let loop = UInt8(0xE0 + rng.next() % 3)
            let count = UInt32(1 + rng.next() % 20)
            // mov ecx, count; body: inc rax; cmp rax, rbx; loop body
            let code: [UInt8] = [0xB9] + withUnsafeBytes(of: count.littleEndian, Array.init)
                + [0x48, 0xFF, 0xC0, 0x48, 0x39, 0xD8, loop, 0xF8]
            return ALUCase(code: code, description: "loop 0x\(String(loop, radix: 16)) x\(count)", undefinedFlags: 0)
        case 1:
            let zero = rng.next() % 2 == 0
            let code: [UInt8] = (zero ? [0x31, 0xC9] : []) + [0xE3, 0x03, 0x48, 0xFF, 0xC0, 0x48, 0xFF, 0xC3]
            return ALUCase(code: code, description: "jrcxz\(zero ? " taken" : "")", undefinedFlags: 0)
        default:
            let offset = UInt32(rng.next() % 0x800)
            let code: [UInt8] = [0xBB] + withUnsafeBytes(of: (0x200000 + offset).littleEndian, Array.init) + [0xD7]
            return ALUCase(code: code, description: "xlat", undefinedFlags: 0, usesData: true)
        }
    }

    /// PUSH, PUSH imm8, POP, and CALL/POP (the return address lands in a register).
    mutating func stackCase(destination: Int, source: Int) -> ALUCase {
        func push(_ register: Int) -> [UInt8] { (register >= 8 ? [0x41] : []) + [UInt8(0x50 + register & 7)] }
        func pop(_ register: Int) -> [UInt8] { (register >= 8 ? [0x41] : []) + [UInt8(0x58 + register & 7)] }
        let immediate = UInt8(truncatingIfNeeded: rng.next())
        let code = push(source) + [0x6A, immediate] + pop(destination) + pop(pick(Self.registers))
            + [0xE8, 0, 0, 0, 0] + pop(pick(Self.registers))
        return ALUCase(code: code, description: "push/pop/call r\(source) -> r\(destination)", undefinedFlags: 0)
    }

    /// The next instruction and the register state it starts from (RSP is left to the runner).
    mutating func nextCase() -> (ALUCase, Registers) {
        let instruction = next()
        var registers = Registers()
        for index in 0..<16 where index != 4 { registers[index] = registerValue() }
        registers.rflags = 0x2 | (rng.next() & 0x8D5)
        return (instruction, registers)
    }

    /// Register values that hit the edges (0, all ones, sign boundaries) as often as random ones.
    mutating func registerValue() -> UInt64 {
        pick([0, 1, .max, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000,
              rng.next(), rng.next(), rng.next() & 0xFF, rng.next() & 0xFFFF_FFFF])
    }
}
