/// A tiny x86-64 encoder: the handful of forms the CPL3 runner's ring-0 code and the case generators need, so
/// cases are written as `X86.load(...)` rather than as opaque byte lists. X86EncoderTests checks every form
/// against the bytes LLVM's assembler produces for the same instruction.
enum X86 {
    static let hlt: [UInt8] = [0xF4]
    static let iretq: [UInt8] = [0x48, 0xCF]
    static let ud2: [UInt8] = [0x0F, 0x0B]
    static let ret: [UInt8] = [0xC3]
    static let int3: [UInt8] = [0xCC]
    static let syscall: [UInt8] = [0x0F, 0x05]
    static let pushfq: [UInt8] = [0x9C]
    static let popfq: [UInt8] = [0x9D]

    /// A REX prefix for operand width and the high bits of reg, index and base; empty when none is needed.
    static func rex(wide: Bool, reg: Int = 0, index: Int = 0, base: Int = 0) -> [UInt8] {
        let value = UInt8(0x40 | (wide ? 8 : 0) | (reg & 8 != 0 ? 4 : 0) | (index & 8 != 0 ? 2 : 0) | (base & 8 != 0 ? 1 : 0))
        return value == 0x40 ? [] : [value]
    }

    /// `prefix opcode` with a register-direct ModRM (reg, rm).
    static func registers(_ opcode: [UInt8], reg: Int, rm: Int, wide: Bool, prefix: [UInt8] = []) -> [UInt8] {
        prefix + rex(wide: wide, reg: reg, base: rm) + opcode + [UInt8(0xC0 | (reg & 7) << 3 | (rm & 7))]
    }

    /// `prefix opcode` with a memory operand [base + disp32] (a SIB byte when the base is RSP or R12).
    static func based(_ opcode: [UInt8], reg: Int, base: Int, displacement: Int32 = 0, wide: Bool,
                      prefix: [UInt8] = []) -> [UInt8] {
        let sib: [UInt8] = base & 7 == 4 ? [0x24] : []
        return prefix + rex(wide: wide, reg: reg, base: base) + opcode + [UInt8(0x80 | (reg & 7) << 3 | (base & 7))] + sib
            + bytes(UInt32(bitPattern: displacement), 4)
    }

    /// `prefix opcode` with an absolute memory operand [disp32] (SIB with no base and no index, not RIP-relative).
    static func absolute(_ opcode: [UInt8], reg: Int, address: UInt32, wide: Bool, prefix: [UInt8] = []) -> [UInt8] {
        prefix + rex(wide: wide, reg: reg) + opcode + [UInt8(0x04 | (reg & 7) << 3), 0x25] + bytes(address, 4)
    }

    /// MOV r64, imm64.
    static func move(_ register: Int, _ value: UInt64) -> [UInt8] {
        rex(wide: true, base: register) + [UInt8(0xB8 + register & 7)] + bytes(value, 8)
    }

    static func push(_ register: Int) -> [UInt8] { rex(wide: false, base: register) + [UInt8(0x50 + register & 7)] }
    static func pop(_ register: Int) -> [UInt8] { rex(wide: false, base: register) + [UInt8(0x58 + register & 7)] }
    static func int(_ vector: UInt8) -> [UInt8] { [0xCD, vector] }
    static func returnReleasing(_ count: UInt16) -> [UInt8] { [0xC2] + bytes(count, 2) }
    static func jumpShort(_ displacement: Int8) -> [UInt8] { [0xEB, UInt8(bitPattern: displacement)] }
    static func jump(_ displacement: Int32) -> [UInt8] { [0xE9] + bytes(UInt32(bitPattern: displacement), 4) }
    static func call(_ displacement: Int32) -> [UInt8] { [0xE8] + bytes(UInt32(bitPattern: displacement), 4) }
    static func jumpShort(if condition: Int, _ displacement: Int8) -> [UInt8] {
        [UInt8(0x70 + condition), UInt8(bitPattern: displacement)]
    }
    static func jump(if condition: Int, _ displacement: Int32) -> [UInt8] {
        [0x0F, UInt8(0x80 + condition)] + bytes(UInt32(bitPattern: displacement), 4)
    }

    /// The low `count` bytes of `value`, little-endian.
    static func bytes<T: FixedWidthInteger>(_ value: T, _ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: UInt64(truncatingIfNeeded: value) >> (8 * UInt64($0))) }
    }
}
