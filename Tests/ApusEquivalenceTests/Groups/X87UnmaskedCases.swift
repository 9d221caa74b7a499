import ApusCore
import ApusTesting

/// The x87 group's companion for unmasked exceptions: x87 stack moves and basic arithmetic (FLD/FST/FSTP in every width, FILD/FIST/FISTP, FXCH, FFREE, FCHS, FABS,
/// FLD1/FLDZ, FADD/FMUL/FSUB/FSUBR/FDIV/FDIVR in their register, P and memory forms) from a random stack: TOP, tags
/// and depths random, values drawn from the specials (±0, ±inf, QNaN/SNaN, denormals, pseudo-denormals, unnormals,
/// extremes) and ordinary numbers, under random precision and rounding control, in 60% of cases with one of IE, DE,
/// ZE or PE unmasked (the x87 group keeps every exception masked).
/// Ends in FXSAVE so the whole x87 state is compared through memory, with FOP, FIP and FDP when ES is set.
struct X87UnmaskedCases {
    var rng: SplitMix64

    mutating func value() -> (UInt16, UInt64) {
        let specials: [(UInt16, UInt64)] = [
            (0, 0), (0x8000, 0), (0x7FFF, 1 << 63), (0xFFFF, 1 << 63), (0x7FFF, 0xC000_0000_0000_0000),
            (0xFFFF, 0xC000_0000_0000_0001), (0x7FFF, 0x8000_0000_0000_0001), (0, 1), (0x8000, 0x7FFF_FFFF_FFFF_FFFF),
            (0, 0x8000_0000_0000_0000),            // pseudo-denormal
            (0x3FFF, 0x4000_0000_0000_0000),       // unnormal
            (0x7FFE, UInt64.max), (0x3FFF, 1 << 63), (0xBFFF, 1 << 63), (0x403E, 1 << 63), (0x401E, UInt64.max),
            (0x3FFE, 1 << 63)]
        switch rng.below(4) {
        case 0: return rng.pick(specials)
        case 1: return (UInt16(truncatingIfNeeded: rng.next()), rng.next() | (rng.chance(90) ? 1 << 63 : 0))
        default:
            let exponent = UInt16(0x3FFF - 40 + rng.below(80))
            return (exponent | (rng.chance(50) ? 0x8000 : 0), rng.next() | 1 << 63)
        }
    }

    mutating func next() -> UserCase {
        var userCase = UserCase(group: "x87-unmasked", code: [], description: "", registers: rng.registers())
        var fpu = FPUState()
        // FCW: random precision (bits 8-9) and rounding (10-11); exceptions masked except, sometimes, one.
        var control: UInt16 = 0x037F & ~0x0300 | UInt16(rng.below(4)) << 8 | UInt16(rng.below(4)) << 10
        // Unmasked OE and UE are left out: the soft CPU does not yet deliver the exponent-biased results hardware
        // writes to a register destination then (see the branch report).
        if rng.chance(60) { control &= ~(UInt16(1) << UInt16(rng.pick([0, 1, 2, 5]))) }
        fpu.controlWord = control
        // FSW: random TOP and condition codes, no pending exceptions (an FXRSTOR'd pending unmasked exception
        // would fault at the first instruction, which tells nothing about the arithmetic).
        let status = UInt16(rng.below(8)) << 11 | UInt16(rng.next() & 0x4700)
        fpu.fxsave[2] = UInt8(truncatingIfNeeded: status); fpu.fxsave[3] = UInt8(truncatingIfNeeded: status >> 8)
        let depth = rng.below(9)
        let top = Int(status >> 11) & 7
        var tags: UInt8 = 0
        for st in 0..<8 {
            let (exponent, significand) = value()
            for index in 0..<8 { fpu.fxsave[32 + 16 * st + index] = UInt8(truncatingIfNeeded: significand >> (8 * UInt64(index))) }
            fpu.fxsave[32 + 16 * st + 8] = UInt8(truncatingIfNeeded: exponent)
            fpu.fxsave[32 + 16 * st + 9] = UInt8(truncatingIfNeeded: exponent >> 8)
            if st < depth || rng.chance(5) { tags |= 1 << UInt8((top + st) & 7) }
        }
        fpu.fxsave[4] = tags
        userCase.fpu = fpu
        var names = ["fcw \(hex(control)) fsw \(hex(status)) tags \(hex(tags))"]
        let data = UInt32(UserModeLayout.data)
        for _ in 0..<(1 + rng.below(4)) {
            let i = rng.below(8)
            let address = data + UInt32(rng.below(0x7F0))
            func memory(_ opcode: UInt8, _ reg: Int, _ name: String) {
                userCase.code += X86.absolute([opcode], reg: reg, address: address, wide: false)
                names.append("\(name) [\(hex(address))]")
            }
            func register(_ opcode: UInt8, _ second: UInt8, _ name: String) {
                userCase.code += [opcode, second]
                names.append(name)
            }
            let arithmetic = rng.pick([0, 1, 4, 5, 6, 7])
            switch rng.below(12) {
            case 0: register(0xD9, UInt8(0xC0 + i), "fld st\(i)")
            case 1: register(0xD9, UInt8(0xC8 + i), "fxch st\(i)")
            case 2: let p = rng.below(2); register(0xDD, UInt8(0xD0 + 8 * p + i), "fst\(p == 1 ? "p" : "") st\(i)")
            case 3: let (b, n) = rng.pick([(0xE0, "fchs"), (0xE1, "fabs"), (0xE8, "fld1"), (0xEE, "fldz")] as [(UInt8, String)])
                register(0xD9, b, n)
            case 4: register(0xDD, UInt8(0xC0 + i), "ffree st\(i)")
            case 5, 6:
                let opcode = rng.pick([0xD8, 0xDC, 0xDE] as [UInt8])
                register(opcode, UInt8(0xC0 + arithmetic << 3 + i), "\(hex(opcode)) arith/\(arithmetic) st\(i)")
            case 7:
                let (opcode, reg, name) = rng.pick([(0xD9, 0, "fld m32"), (0xDD, 0, "fld m64"), (0xDB, 5, "fld m80"),
                                                    (0xDF, 0, "fild m16"), (0xDB, 0, "fild m32"), (0xDF, 5, "fild m64"),
                                                    (0xDF, 4, "fbld")]
                                                   as [(UInt8, Int, String)])
                memory(opcode, reg, name)
            case 8, 9:
                let (opcode, reg, name) = rng.pick([(0xD9, 2, "fst m32"), (0xD9, 3, "fstp m32"), (0xDD, 2, "fst m64"),
                                                    (0xDD, 3, "fstp m64"), (0xDB, 7, "fstp m80"), (0xDF, 2, "fist m16"),
                                                    (0xDF, 3, "fistp m16"), (0xDB, 2, "fist m32"), (0xDB, 3, "fistp m32"),
                                                    (0xDF, 7, "fistp m64"), (0xDF, 6, "fbstp")] as [(UInt8, Int, String)])
                memory(opcode, reg, name)
            default:
                let opcode = rng.pick([0xD8, 0xDC, 0xDA, 0xDE] as [UInt8])
                memory(opcode, arithmetic, "\(hex(opcode)) arith/\(arithmetic)")
            }
        }
        if rng.chance(10) { userCase.code += [0x9B]; names.append("fwait") }
        userCase.code += X86.absolute([0x0F, 0xAE], reg: 0, address: SSECases.saveArea, wide: false)   // FXSAVE
        // MXCSR_MASK as in SSECases. FCS and FDS (bytes 12-15, 20-23) are cleared: the soft CPU's model deprecates
        // them (stored as zero) where this AMD host stores the selectors. FOP, FIP and FDP are compared when an
        // unmasked exception is pending (FSW.ES), the only case in which every vendor's FXSAVE stores them (AMD
        // stores them only then); otherwise they are cleared too.
        userCase.code += X86.absolute([0xC7], reg: 0, address: SSECases.saveArea + 28, wide: false) + [0, 0, 0, 0]
        for offset: UInt32 in [12, 20] {
            userCase.code += X86.absolute([0xC7], reg: 0, address: SSECases.saveArea + offset, wide: false) + [0, 0, 0, 0]
        }
        var clearPointers = X86.absolute([0xC7], reg: 0, address: SSECases.saveArea + 6, wide: false, prefix: [0x66]) + [0, 0]
        for offset: UInt32 in [8, 16] {
            clearPointers += X86.absolute([0xC7], reg: 0, address: SSECases.saveArea + offset, wide: false) + [0, 0, 0, 0]
        }
        userCase.code += [0xDF, 0xE0, 0xA8, 0x80, 0x75, UInt8(clearPointers.count)]   // fnstsw ax; test al, 0x80; jnz
        userCase.code += clearPointers
        userCase.description = names.joined(separator: "; ")
        return userCase
    }
}
