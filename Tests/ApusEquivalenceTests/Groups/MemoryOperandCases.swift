import ApusCore
import ApusTesting

/// ALU, MOV, MOVZX/MOVSX, XCHG, XADD, CMPXCHG, BT* (register bit offsets reach beyond the operand), shifts, NOT/NEG,
/// INC/DEC, PUSH/POP m64, LEA, CMPXCHG8B/16B and ENTER with memory operands of every width in the two data pages, at any alignment and
/// straddling the page between them, addressed through base, index and scale.
struct MemoryOperandCases {
    var rng: SplitMix64

    /// A ModRM/SIB/disp32 memory operand [base + index*scale + disp] pointing into the data pages; sets the
    /// registers it uses.
    mutating func operand(reg: Int, registers: inout Registers, avoiding: Set<Int>) -> (rex: UInt8, bytes: [UInt8], text: String) {
        let base = rng.register(excluding: avoiding)
        let index = rng.register(excluding: avoiding.union([base]))
        let scale = rng.below(4)
        let target = UserModeLayout.data + UInt64(rng.chance(20) ? 0xFF0 + rng.below(32) : rng.below(0x1FF0))
        let indexValue = UInt64(rng.below(64))
        let displacement = Int32(rng.below(256)) - 128
        registers[index] = indexValue
        registers[base] = target &- (indexValue << UInt64(scale)) &- UInt64(bitPattern: Int64(displacement))
        let rex = UInt8((reg & 8 != 0 ? 4 : 0) | (index & 8 != 0 ? 2 : 0) | (base & 8 != 0 ? 1 : 0))
        let modrm = UInt8(0x84 | (reg & 7) << 3)
        let sib = UInt8(scale << 6 | (index & 7) << 3 | (base & 7))
        return (rex, [modrm, sib] + X86.bytes(UInt32(bitPattern: displacement), 4),
                "[r\(base) + r\(index)*\(1 << scale) + \(displacement)] = \(hex(target))")
    }

    mutating func next() -> UserCase {
        var userCase = UserCase(group: "memory", code: [], description: "", registers: rng.registers())
        let value = rng.register()
        let width = rng.pick([1, 2, 4, 8])
        let (rex, memory, text) = operand(reg: value, registers: &userCase.registers, avoiding: [value])
        let forms: [([UInt8], String, UInt64)] = [
            ([UInt8(rng.below(8) * 8 + (width == 1 ? 0 : 1))], "alu m, r", 0),
            ([UInt8(rng.below(8) * 8 + (width == 1 ? 2 : 3))], "alu r, m", 0),
            ([width == 1 ? 0x88 : 0x89], "mov m, r", 0), ([width == 1 ? 0x8A : 0x8B], "mov r, m", 0),
            ([width == 1 ? 0x86 : 0x87], "xchg", 0), ([0x0F, width == 1 ? 0xC0 : 0xC1], "xadd", 0),
            ([0x0F, width == 1 ? 0xB0 : 0xB1], "cmpxchg", 0), ([0x0F, 0xB6], "movzx r, m8", 0), ([0x0F, 0xBF], "movsx r, m16", 0),
            ([0x0F, rng.pick([0xA3, 0xAB, 0xB3, 0xBB])], "bt* m, r", 0x8D4), ([0x8D], "lea", 0),
        ]
        var (opcode, name, undefined) = rng.pick(forms)
        var immediate: [UInt8] = []
        if rng.chance(25) {
            // Group forms with an immediate or none: shifts, NOT/NEG, INC/DEC, ALU with imm8, BT* with imm8.
            let group = rng.below(5)
            let operation = rng.below(8)
            switch group {
            case 0:
                opcode = [width == 1 ? 0xC0 : 0xC1]
                immediate = [UInt8(1 + rng.below(7))]
                name = "shift/\(operation) m, \(immediate[0])"
                undefined = 0x810   // OF (count > 1) and AF
            case 1:
                opcode = [width == 1 ? 0xF6 : 0xF7]
                name = operation % 2 == 0 ? "not m" : "neg m"
            case 2:
                opcode = [width == 1 ? 0xFE : 0xFF]
                name = operation % 2 == 0 ? "inc m" : "dec m"
            case 3:
                opcode = [width == 1 ? 0x80 : 0x83]
                immediate = [UInt8(truncatingIfNeeded: rng.next())]
                name = "alu/\(operation) m, imm8"
            default:
                opcode = [0x0F, 0xBA]
                immediate = [UInt8(rng.below(64))]
                name = "bt*/\(4 + operation % 4) m, imm8"
                undefined = 0x8D4
            }
            let extensionField = group == 1 ? 2 + operation % 2 : group == 2 ? operation % 2 : group == 4 ? 4 + operation % 4 : operation
            var bytes = memory
            bytes[0] = (bytes[0] & ~0x38) | UInt8(extensionField << 3)
            let prefix: [UInt8] = width == 2 ? [0x66] : []
            let rexByte = (rex & 3) | (width == 8 ? 8 : 0)
            userCase.code = prefix + (rexByte != 0 ? [0x40 | rexByte] : []) + opcode + bytes + immediate
        } else {
            let byteForm = width == 1 && !name.hasPrefix("movzx") && !name.hasPrefix("movsx") && !name.hasPrefix("bt") && name != "lea"
            let effectiveWidth = byteForm ? 1 : (width == 1 ? 4 : width)
            let prefix: [UInt8] = effectiveWidth == 2 ? [0x66] : []
            // An empty REX makes a byte register 4-7 mean SPL..DIL rather than AH..BH; either is a fine case.
            let rexByte = rex | (effectiveWidth == 8 ? 8 : 0)
            userCase.code = prefix + (rexByte != 0 ? [0x40 | rexByte] : []) + opcode + memory
        }
        if rng.chance(15) {
            // PUSH m64 / POP m64 (FF /6, 8F /0) through the same operand.
            var bytes = memory
            let pop = rng.chance(50)
            bytes[0] &= ~0x38
            if !pop { bytes[0] |= 6 << 3 }
            userCase.code = ((rex & 3) != 0 ? [0x40 | (rex & 3)] : []) + [pop ? 0x8F : 0xFF] + bytes
            name = pop ? "pop m64" : "push m64"
            undefined = 0
        }
        if rng.chance(8) { wideOrFrame(&userCase, &name, &undefined) }
        // Flags left undefined by the forms above; AF is also undefined after logic operations.
        userCase.undefinedFlags = undefined | (name.hasPrefix("alu") ? 0x10 : 0)
        userCase.description = "\(name) w\(width) \(text)"
        return userCase
    }

    /// CMPXCHG8B / CMPXCHG16B on a data-page address (loading rDX:rAX from it first half the time, so both outcomes
    /// occur; CMPXCHG16B only 16-byte aligned, since this host's KVM cannot referee the alignment #GP at CPL3), or
    /// ENTER with a random allocation and nesting level, RBP pointing into the data pages.
    mutating func wideOrFrame(_ userCase: inout UserCase, _ name: inout String, _ undefined: inout UInt64) {
        undefined = 0
        if rng.chance(70) {
            let wide = rng.chance(50)
            let address = UInt32(UserModeLayout.data) + UInt32(rng.below(0x1F0)) * 16 + (wide ? 0 : UInt32(rng.below(8)))
            var code: [UInt8] = []
            let matching = rng.chance(50)
            if matching {
                code += X86.absolute([0x8B], reg: 0, address: address, wide: wide)
                code += X86.absolute([0x8B], reg: 2, address: address + (wide ? 8 : 4), wide: wide)
            }
            code += (rng.chance(30) ? [0xF0] : []) + X86.absolute([0x0F, 0xC7], reg: 1, address: address, wide: wide)
            userCase.code = code
            name = "\(matching ? "matching " : "")cmpxchg\(wide ? "16b" : "8b") [\(hex(address))]"
        } else {
            let allocation = UInt16(rng.chance(50) ? rng.below(64) * 8 : rng.below(0x800))
            let level = UInt8(rng.chance(70) ? rng.below(4) : rng.below(40))
            userCase.registers[5] = UserModeLayout.data + UInt64(rng.below(0x1F00)) + 0x100
            userCase.code = [0xC8] + X86.bytes(allocation, 2) + [level]
            name = "enter \(allocation), \(level)"
        }
    }
}
