import ApusCore
import ApusTesting

/// SSE/SSE2 floating point: arithmetic, square roots and estimates, CMPcc, (U)COMIS and every conversion, scalar and
/// packed, on lanes drawn from the IEEE specials (±0, ±inf, quiet and signalling NaNs, denormals, extremes) and
/// ordinary values, under random rounding, DAZ and FTZ and occasionally unmasked exceptions. Ends in FXSAVE, so XMM
/// registers and MXCSR (with its sticky flags) are compared; RFLAGS is compared as a register.
struct SSEFloatCases {
    var rng: SplitMix64

    mutating func singleLane() -> UInt64 {
        let specials: [UInt64] = [0, 0x8000_0000, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000, 0xFFC0_0001, 0x7F80_0001,
                                  0x7FA0_0000, 0x0000_0001, 0x807F_FFFF, 0x0080_0000, 0x7F7F_FFFF, 0x3F80_0000,
                                  0xBF80_0000, 0x4F00_0000, 0xCF00_0000, 0x5F00_0000, 0x3F00_0000]
        switch rng.below(4) {
        case 0: return rng.pick(specials)
        case 1: return rng.next() & 0xFFFF_FFFF
        default:
            // An ordinary value of moderate size: sign, exponent near the middle, random fraction.
            let exponent = UInt64(100 + rng.below(60))
            return UInt64(rng.below(2)) << 31 | exponent << 23 | (rng.next() & 0x7F_FFFF)
        }
    }

    mutating func doubleLane() -> UInt64 {
        let specials: [UInt64] = [0, 0x8000_0000_0000_0000, 0x7FF0_0000_0000_0000, 0xFFF0_0000_0000_0000,
                                  0x7FF8_0000_0000_0000, 0xFFF8_0000_0000_0001, 0x7FF0_0000_0000_0001,
                                  0x0000_0000_0000_0001, 0x800F_FFFF_FFFF_FFFF, 0x0010_0000_0000_0000,
                                  0x7FEF_FFFF_FFFF_FFFF, 0x3FF0_0000_0000_0000, 0xBFF0_0000_0000_0000,
                                  0x41E0_0000_0000_0000, 0xC1E0_0000_0000_0000, 0x43E0_0000_0000_0000, 0x3FE0_0000_0000_0000]
        switch rng.below(4) {
        case 0: return rng.pick(specials)
        case 1: return rng.next()
        default:
            let exponent = UInt64(990 + rng.below(70))
            return UInt64(rng.below(2)) << 63 | exponent << 52 | (rng.next() & 0xF_FFFF_FFFF_FFFF)
        }
    }

    mutating func register() -> (UInt64, UInt64) {
        switch rng.below(3) {
        case 0: return (singleLane() | singleLane() << 32, singleLane() | singleLane() << 32)
        case 1: return (doubleLane(), doubleLane())
        default: return (rng.chance(50) ? singleLane() : UInt64(truncatingIfNeeded: Int64(rng.below(2001) - 1000)), doubleLane())
        }
    }

    mutating func next() -> UserCase {
        var userCase = UserCase(group: "sse-float", code: [], description: "", registers: rng.registers())
        var fpu = FPUState()
        for index in 0..<16 { let (low, high) = register(); fpu.setXMM(index, low: low, high: high) }
        var mxcsr: UInt32 = 0x1F80 | UInt32(rng.below(4)) << 13
        if rng.chance(20) { mxcsr |= 0x40 }          // DAZ
        if rng.chance(20) { mxcsr |= 0x8000 }        // FTZ
        if rng.chance(10) { mxcsr &= ~(UInt32(1) << UInt32(7 + rng.below(6))) }   // one exception unmasked
        if rng.chance(20) { mxcsr |= UInt32(rng.below(64)) }                      // sticky flags already set
        fpu.mxcsr = mxcsr
        userCase.fpu = fpu
        // Some general registers hold small integers for CVTSI2S*.
        for _ in 0..<3 { userCase.registers[rng.register()] = UInt64(bitPattern: Int64(rng.below(200_001) - 100_000)) }
        var names: [String] = []
        for _ in 0..<(1 + rng.below(3)) {
            let reg = rng.below(16)
            let (prefix, opcode, name, generalReg, generalRM, scalarSize): (UInt8?, UInt8, String, Bool, Bool, Int)
            switch rng.below(6) {
            case 0, 1:
                let op = rng.pick([0x51, 0x52, 0x53, 0x58, 0x59, 0x5C, 0x5D, 0x5E, 0x5F] as [UInt8])
                let choices: [UInt8?] = op == 0x52 || op == 0x53 ? [nil, 0xF3] : [nil, 0x66, 0xF3, 0xF2]
                let p = rng.pick(choices)
                (prefix, opcode, name, generalReg, generalRM) = (p, op, "arith 0f \(hex(op))", false, false)
                scalarSize = p == 0xF3 ? 4 : p == 0xF2 ? 8 : 16
            case 2:
                let p = rng.pick([nil, 0x66, 0xF3, 0xF2] as [UInt8?])
                (prefix, opcode, name, generalReg, generalRM) = (p, 0xC2, "cmp", false, false)
                scalarSize = p == 0xF3 ? 4 : p == 0xF2 ? 8 : 16
            case 3:
                let p = rng.pick([nil, 0x66] as [UInt8?])
                let op = rng.pick([0x2E, 0x2F] as [UInt8])
                (prefix, opcode, name, generalReg, generalRM) = (p, op, op == 0x2E ? "ucomis" : "comis", false, false)
                scalarSize = p == nil ? 4 : 8
            case 4:
                let p = rng.pick([0xF3, 0xF2] as [UInt8])
                let op = rng.pick([0x2A, 0x2C, 0x2D] as [UInt8])
                (prefix, opcode, name, generalReg, generalRM) = (p, op, "cvt 0f \(hex(op))", op != 0x2A, op == 0x2A)
                scalarSize = op == 0x2A ? 8 : (p == 0xF3 ? 4 : 8)
            default:
                let (p, op): (UInt8?, UInt8) = rng.pick([(nil, 0x5A), (0x66, 0x5A), (0xF3, 0x5A), (0xF2, 0x5A),
                                                        (nil, 0x5B), (0x66, 0x5B), (0xF3, 0x5B), (0x66, 0xE6),
                                                        (0xF2, 0xE6), (0xF3, 0xE6)])
                (prefix, opcode, name, generalReg, generalRM) = (p, op, "cvt 0f \(hex(op))", false, false)
                scalarSize = (p == nil && op == 0x5A) || (p == 0xF3 && op == 0xE6) || p == 0xF2 && op == 0x5A ? 8
                    : (p == 0xF3 && op == 0x5A) ? 4 : 16
            }
            let prefixBytes = prefix.map { [$0] } ?? []
            let wide = (generalReg || generalRM) && rng.chance(50)
            let regField = generalReg ? rng.register() : reg
            let immediate: [UInt8] = opcode == 0xC2 ? [UInt8(rng.chance(80) ? rng.below(8) : rng.below(256))] : []
            if rng.chance(35) && !generalRM {
                // Scalar memory operands may sit anywhere; 16-byte ones aligned (this host's KVM cannot referee
                // the alignment #GP at CPL3).
                let offset = scalarSize == 16 ? UInt32(rng.below(0x80)) * 16 : UInt32(rng.below(0x7F0))
                let address = UInt32(UserModeLayout.data) + offset
                userCase.code += X86.absolute([0x0F, opcode], reg: regField, address: address, wide: wide,
                                              prefix: prefixBytes) + immediate
                names.append("\(prefix.map { hex($0) } ?? "--") \(name) \(regField), [\(hex(address))]")
            } else {
                let other = generalRM ? rng.register() : rng.below(16)
                userCase.code += X86.registers([0x0F, opcode], reg: regField, rm: other, wide: wide,
                                               prefix: prefixBytes) + immediate
                names.append("\(prefix.map { hex($0) } ?? "--") \(name) \(regField), \(other)\(wide ? " (w)" : "")")
            }
        }
        userCase.code += X86.absolute([0x0F, 0xAE], reg: 0, address: SSECases.saveArea, wide: false)   // FXSAVE
        userCase.code += X86.absolute([0xC7], reg: 0, address: SSECases.saveArea + 28, wide: false) + [0, 0, 0, 0]
        userCase.description = names.joined(separator: "; ")
        return userCase
    }
}
