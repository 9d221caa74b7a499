import ApusCore
import ApusTesting

/// x87 loads, stores, arithmetic, compares, constants, stack management, conditional moves and functions, from a
/// random register stack (depth, TOP, and values drawn from the 80-bit specials: zeros, infinities, NaNs,
/// denormals, pseudo-denormals and unnormals) under random precision and rounding control, all exceptions masked
/// (unmasked ones are delivered later by #MF, which this group leaves out). Ends in FXSAVE; FOP, FIP and FDP, which
/// the soft CPU does not keep, are cleared in the saved image (and in FNSTENV's) before the comparison.
struct X87Cases {
    var rng: SplitMix64

    mutating func extended() -> (UInt64, UInt16) {
        let sign = UInt16(rng.below(2)) << 15
        switch rng.below(8) {
        case 0: return (0, sign)                                                  // zero
        case 1: return (1 << 63, sign | 0x7FFF)                                   // infinity
        case 2: return (0xC000_0000_0000_0000 | (rng.next() >> 2), sign | 0x7FFF) // QNaN
        case 3: return (0x8000_0000_0000_0001 | (rng.next() >> 3), sign | 0x7FFF) // SNaN
        case 4: return (rng.next() >> 1, sign)                                    // denormal (or pseudo-denormal)
        case 5: return (rng.next() >> 1 | 1, sign | UInt16(1 + rng.below(0x7FFE))) // unnormal
        default:
            let exponent = UInt16(0x3FFF - 70 + rng.below(140))
            return (1 << 63 | rng.next() >> 1, sign | exponent)
        }
    }

    mutating func next() -> UserCase {
        var userCase = UserCase(group: "x87", code: [], description: "", registers: rng.registers())
        var fpu = FPUState()
        let depth = rng.below(9)
        let top = rng.below(8)
        var control: UInt16 = 0x037F | UInt16(rng.pick([0, 2, 3])) << 8 | UInt16(rng.below(4)) << 10
        if rng.chance(10) { control = 0x037F }
        fpu.controlWord = control
        let status = UInt16(top) << 11 | (rng.chance(20) ? UInt16(rng.below(64)) & 0x3F : 0)
        fpu.fxsave[2] = UInt8(truncatingIfNeeded: status); fpu.fxsave[3] = UInt8(truncatingIfNeeded: status >> 8)
        var tags: UInt8 = 0
        for i in 0..<8 {
            let (significand, signExponent) = extended()
            let base = 32 + 16 * i
            for index in 0..<8 { fpu.fxsave[base + index] = UInt8(truncatingIfNeeded: significand >> (8 * UInt64(index))) }
            fpu.fxsave[base + 8] = UInt8(truncatingIfNeeded: signExponent); fpu.fxsave[base + 9] = UInt8(signExponent >> 8)
            if i < depth { tags |= UInt8(1 << ((top + i) & 7)) }
        }
        fpu.fxsave[4] = tags
        userCase.fpu = fpu
        var names: [String] = []
        let data = UInt32(UserModeLayout.data)
        for _ in 0..<(1 + rng.below(3)) {
            let index = UInt8(rng.below(8))
            let address = data + UInt32(rng.below(0x7F0))
            func memory(_ opcode: UInt8, _ kind: Int) -> [UInt8] { X86.absolute([opcode], reg: kind, address: address, wide: false) }
            let choice = rng.below(14)
            switch choice {
            case 0, 1:
                let opcode = rng.pick([0xD8, 0xDC, 0xDE] as [UInt8]), kind = UInt8(rng.below(8))
                if opcode == 0xDE && (kind == 2 || kind == 3) { userCase.code += [0xDE, 0xD9]; names.append("fcompp"); continue }
                userCase.code += [opcode, 0xC0 | kind << 3 | index]
                names.append("\(hex(opcode)) /\(kind) st\(index)")
            case 2:
                let opcode = rng.pick([0xD8, 0xDC, 0xDA, 0xDE] as [UInt8]), kind = rng.below(8)
                userCase.code += memory(opcode, kind)
                names.append("\(hex(opcode)) /\(kind) [\(hex(address))]")
            case 3:
                let (opcode, kind) = rng.pick([(0xD9, 0), (0xDD, 0), (0xDB, 0), (0xDF, 0), (0xDF, 5), (0xDB, 5), (0xDF, 4)] as [(UInt8, Int)])
                userCase.code += memory(opcode, kind)
                names.append("load \(hex(opcode)) /\(kind) [\(hex(address))]")
            case 4:
                let (opcode, kind) = rng.pick([(0xD9, 2), (0xD9, 3), (0xDD, 2), (0xDD, 3), (0xDB, 2), (0xDB, 3),
                                               (0xDF, 2), (0xDF, 3), (0xDF, 7), (0xDB, 7), (0xDF, 6)] as [(UInt8, Int)])
                userCase.code += memory(opcode, kind)
                names.append("store \(hex(opcode)) /\(kind) [\(hex(address))]")
            case 5:
                let (opcode, kind) = rng.pick([(0xD9, 0), (0xD9, 1), (0xDD, 0), (0xDD, 2), (0xDD, 3), (0xDD, 4),
                                               (0xDD, 5)] as [(UInt8, Int)])
                userCase.code += [opcode, 0xC0 | UInt8(kind) << 3 | index]
                names.append("\(hex(opcode)) /\(kind) st\(index)")
            case 6:
                let second = rng.pick([0xE0, 0xE1, 0xE4, 0xE5, 0xE8, 0xE9, 0xEA, 0xEB, 0xEC, 0xED, 0xEE, 0xF6, 0xF7] as [UInt8])
                userCase.code += [0xD9, second]
                names.append("d9 \(hex(second))")
            case 7:
                let (opcode, kind) = rng.pick([(0xDB, 5), (0xDB, 6), (0xDF, 5), (0xDF, 6)] as [(UInt8, Int)])
                userCase.code += [opcode, 0xC0 | UInt8(kind) << 3 | index]
                names.append("fcomi-family \(hex(opcode)) /\(kind) st\(index)")
            case 8:
                let opcode = rng.pick([0xDA, 0xDB] as [UInt8]), kind = UInt8(rng.below(4))
                userCase.code += (rng.chance(50) ? [0x48, 0x85, 0xC0] : [0x48, 0x39, 0xD8])   // test/cmp: set flags
                userCase.code += [opcode, 0xC0 | kind << 3 | index]
                names.append("fcmov \(hex(opcode)) /\(kind) st\(index)")
            case 9:
                let second = rng.pick([0xFA, 0xFC, 0xFD, 0xF0, 0xF1, 0xF3, 0xF9, 0xF2, 0xFB, 0xFE, 0xFF, 0xF8, 0xF5, 0xF4] as [UInt8])
                userCase.code += [0xD9, second]
                names.append("d9 \(hex(second))")
            case 10:
                userCase.code += rng.chance(50) ? [0xDA, 0xE9] : [0xDF, 0xE0]
                names.append("fucompp / fnstsw ax")
            case 11:
                // FNSTENV, then clear the instruction/operand pointer fields (not kept by the soft CPU).
                let aligned = data + UInt32(rng.below(0x70)) * 16
                userCase.code += X86.absolute([0xD9], reg: 6, address: aligned, wide: false)
                userCase.code += X86.absolute([0xC7], reg: 0, address: aligned + 12, wide: true) + [0, 0, 0, 0]
                userCase.code += X86.absolute([0xC7], reg: 0, address: aligned + 20, wide: true) + [0, 0, 0, 0]
                names.append("fnstenv [\(hex(aligned))]")
            case 12:
                userCase.code += memory(0xD9, 7)
                names.append("fnstcw [\(hex(address))]")
            default:
                userCase.code += [0xDB, 0xE2]
                names.append("fnclex")
            }
        }
        let save = SSECases.saveArea
        userCase.code += X86.absolute([0x0F, 0xAE], reg: 0, address: save, wide: false)   // FXSAVE
        userCase.code += X86.absolute([0xC7], reg: 0, address: save + 28, wide: false) + [0, 0, 0, 0]   // MXCSR_MASK
        userCase.code += [0x66] + X86.absolute([0xC7], reg: 0, address: save + 6, wide: false) + [0, 0]  // FOP
        userCase.code += X86.absolute([0xC7], reg: 0, address: save + 8, wide: true) + [0, 0, 0, 0]      // FIP
        userCase.code += X86.absolute([0xC7], reg: 0, address: save + 16, wide: true) + [0, 0, 0, 0]     // FDP
        userCase.description = names.joined(separator: "; ")
        return userCase
    }
}
