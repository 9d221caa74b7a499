import ApusCore
import ApusTesting

/// MMX instructions (the no-prefix packed-integer opcodes on MM0-7, MOVD/MOVQ, PSHUFW, PINSRW/PEXTRW, PMOVMSKB,
/// MOVNTQ, MASKMOVQ, EMMS, MOVQ2DQ/MOVDQ2Q, the MMX conversions CVTPI2PS/PD and CVT(T)PS/PD2PI) from a random x87 state (random significands and exponents, TOP and tag word), ending in
/// FXSAVE so the MMX registers, their exponent bytes, TOP and the tag word are all compared. Register fields range
/// over 0-15 so a REX.R/REX.B that MMX must ignore is exercised too.
struct SSEMMXCases {
    var rng: SplitMix64
    var lanes: SSECases
    var floats: SSEFloatCases

    init(rng: SplitMix64) {
        self.rng = rng
        self.lanes = SSECases(rng: SplitMix64(seed: self.rng.value()))
        self.floats = SSEFloatCases(rng: SplitMix64(seed: self.rng.value()))
    }

    struct Form {
        var opcode: UInt8
        var name: String
        var registerOnly = false
        var immediate = false
        var generalReg = false
        var generalRM = false
    }

    static let forms: [Form] = {
        let packed: [(UInt8, String)] = SSECases.packedIntegerLow + [(0x6F, "movq load"), (0x7F, "movq store")]
            + SSECases.packedIntegerHigh
        return packed.map { Form(opcode: $0.0, name: $0.1) } + [
            Form(opcode: 0x70, name: "pshufw", immediate: true),
            Form(opcode: 0xC4, name: "pinsrw", immediate: true, generalRM: true),
            Form(opcode: 0xC5, name: "pextrw", registerOnly: true, immediate: true, generalReg: true),
            Form(opcode: 0xD7, name: "pmovmskb", registerOnly: true, generalReg: true),
        ]
    }()

    mutating func next() -> UserCase {
        var userCase = UserCase(group: "sse-mmx", code: [], description: "", registers: rng.registers())
        var fpu = FPUState()
        for index in 0..<8 {
            let base = 32 + 16 * index
            // Small shift counts in some registers, so the by-register shifts do not all clear.
            let value = rng.chance(20) ? UInt64(rng.below(70)) : lanes.edgyQuadword()
            for byte in 0..<8 { fpu.fxsave[base + byte] = UInt8(truncatingIfNeeded: value >> UInt64(8 * byte)) }
            fpu.fxsave[base + 8] = UInt8(truncatingIfNeeded: rng.next())
            fpu.fxsave[base + 9] = UInt8(truncatingIfNeeded: rng.next())
        }
        fpu.fxsave[3] = UInt8(rng.below(8)) << 3    // TOP; no exception summary, so no #MF
        fpu.fxsave[4] = UInt8(truncatingIfNeeded: rng.next())   // abridged tag word
        // XMM lanes and MXCSR for the conversions (CVTPI2PS and friends): IEEE specials and ordinary values, any
        // rounding, now and then one exception unmasked.
        for index in 0..<16 { let (low, high) = floats.register(); fpu.setXMM(index, low: low, high: high) }
        fpu.mxcsr = 0x1F80 | UInt32(rng.below(4)) << 13
        if rng.chance(10) { fpu.mxcsr &= ~(UInt32(1) << UInt32(7 + rng.below(6))) }
        userCase.fpu = fpu
        var names: [String] = []
        for _ in 0..<(1 + rng.below(4)) {
            let reg = rng.below(16)
            switch rng.below(12) {
            case 0:
                let wide = rng.chance(50), toMM = rng.chance(50), gpr = rng.register()
                userCase.code += X86.rex(wide: wide, reg: reg, base: gpr) + [0x0F, toMM ? 0x6E : 0x7E,
                                                                             UInt8(0xC0 | (reg & 7) << 3 | (gpr & 7))]
                names.append("mov\(wide ? "q" : "d") \(toMM ? "mm\(reg), r\(gpr)" : "r\(gpr), mm\(reg)")")
            case 1:
                let opcode = UInt8(rng.pick([0x71, 0x72, 0x73]))
                let kind = opcode == 0x73 ? rng.pick([2, 6]) : rng.pick([2, 4, 6])
                let count = UInt8(rng.chance(80) ? rng.below(20) : rng.below(256))
                userCase.code += X86.registers([0x0F, opcode], reg: kind, rm: reg, wide: false) + [count]
                names.append("shift 0f \(hex(opcode)) /\(kind) mm\(reg), \(count)")
            case 2:
                userCase.code += [0x0F, 0x77]
                names.append("emms")
            case 3:
                let address = UInt32(UserModeLayout.data) + UInt32(rng.below(0x7F0)) * 2
                userCase.code += X86.absolute([0x0F, rng.chance(50) ? 0xE7 : 0x7F], reg: reg, address: address, wide: false)
                names.append("movntq/movq [\(hex(address))], mm\(reg)")
            case 5:
                // MOVQ2DQ xmm, mm / MOVDQ2Q mm, xmm (SSE2 transfers between the register files).
                let toXMM = rng.chance(50), other = rng.below(16)
                userCase.code += X86.registers([0x0F, 0xD6], reg: reg, rm: other, wide: false, prefix: [toXMM ? 0xF3 : 0xF2])
                names.append(toXMM ? "movq2dq xmm\(reg), mm\(other)" : "movdq2q mm\(reg), xmm\(other)")
            case 6:
                // CVTPI2PS/PD xmm, mm/m64; CVT(T)PS2PI mm, xmm/m64; CVT(T)PD2PI mm, xmm/m128. The m128 is aligned:
                // a misaligned one is #GP on this host's CPU (checked natively), but this host's software-nested KVM
                // reports #UD for it, so KVM cannot referee that case. The m64 forms take any 8-byte offset.
                let double = rng.chance(50), opcode = rng.pick([0x2A, 0x2C, 0x2D] as [UInt8])
                let prefix: [UInt8] = double ? [0x66] : []
                let name = "cvt \(double ? "66 " : "")0f \(hex(opcode))"
                if rng.chance(30) {
                    let address = UInt32(UserModeLayout.data) + UInt32(rng.below(0xFE)) * 8
                        & (double && opcode != 0x2A ? ~UInt32(15) : ~UInt32(0))
                    userCase.code += X86.absolute([0x0F, opcode], reg: reg, address: address, wide: false, prefix: prefix)
                    names.append("\(name) \(reg), [\(hex(address))]")
                } else {
                    let other = rng.below(16)
                    userCase.code += X86.registers([0x0F, opcode], reg: reg, rm: other, wide: false, prefix: prefix)
                    names.append("\(name) \(reg), \(other)")
                }
            case 4:
                // MASKMOVQ to [rdi] inside the data page (MOV EDI, imm32 first: an earlier instruction may write rdi).
                let target = UInt32(UserModeLayout.data) + UInt32(rng.below(0xF00))
                userCase.code += [0xBF] + (0..<4).map { UInt8(truncatingIfNeeded: target >> (8 * UInt32($0))) }
                userCase.code += X86.registers([0x0F, 0xF7], reg: reg, rm: rng.below(16), wide: false)
                names.append("mov edi, \(hex(target)); maskmovq mm\(reg), [rdi]")
            default:
                let form = rng.pick(Self.forms)
                let regField = form.generalReg ? rng.register() : reg
                let immediate: [UInt8] = form.immediate ? [UInt8(truncatingIfNeeded: rng.next())] : []
                if !form.registerOnly && rng.chance(40) {
                    let address = UInt32(UserModeLayout.data) + UInt32(rng.below(0x7F0)) * 2 + UInt32(rng.below(2))
                    userCase.code += X86.absolute([0x0F, form.opcode], reg: regField, address: address, wide: false) + immediate
                    names.append("\(form.name) \(regField), [\(hex(address))]")
                } else {
                    let other = form.generalRM ? rng.register() : rng.below(16)
                    userCase.code += X86.registers([0x0F, form.opcode], reg: regField, rm: other, wide: false) + immediate
                    names.append("\(form.name) \(regField), \(other)")
                }
                if !immediate.isEmpty { names[names.count - 1] += ", \(immediate[0])" }
            }
        }
        userCase.code += X86.absolute([0x0F, 0xAE], reg: 0, address: SSECases.saveArea, wide: false)   // FXSAVE
        // MXCSR_MASK describes the CPU model, not the state (see SSECases).
        userCase.code += X86.absolute([0xC7], reg: 0, address: SSECases.saveArea + 28, wide: false) + [0, 0, 0, 0]
        userCase.description = names.joined(separator: "; ")
        return userCase
    }
}
