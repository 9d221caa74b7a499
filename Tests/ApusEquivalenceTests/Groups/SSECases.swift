import ApusCore
import ApusTesting

/// SSE2 integer and move instructions the soft CPU implements, from random XMM registers, ending in FXSAVE to the
/// data page so every XMM register and MXCSR are compared through memory. MOVDQU and MOVQ get misaligned operands
/// half the time; the aligned forms only aligned ones (see below).
struct SSECases {
    var rng: SplitMix64
    static let saveArea = UInt32(UserModeLayout.data + 0x1000)

    /// (mandatory prefix, opcode, name, has a memory form, a load whose memory operand may be unaligned)
    static let forms: [(UInt8?, UInt8, String, Bool, Bool)] = [
        (0x66, 0xEF, "pxor", true, false), (0x66, 0xDB, "pand", true, false), (0x66, 0xDF, "pandn", true, false),
        (0x66, 0xEB, "por", true, false), (nil, 0x57, "xorps", true, false),
        (0x66, 0xFC, "paddb", true, false), (0x66, 0xFD, "paddw", true, false), (0x66, 0xFE, "paddd", true, false),
        (0x66, 0xD4, "paddq", true, false), (0x66, 0xF8, "psubb", true, false), (0x66, 0xF9, "psubw", true, false),
        (0x66, 0xFA, "psubd", true, false), (0x66, 0xFB, "psubq", true, false),
        (0x66, 0x74, "pcmpeqb", true, false), (0x66, 0x75, "pcmpeqw", true, false), (0x66, 0x76, "pcmpeqd", true, false),
        (0x66, 0x6F, "movdqa load", true, false), (0xF3, 0x6F, "movdqu load", true, true),
        (0x66, 0x7F, "movdqa store", true, false), (0xF3, 0x7F, "movdqu store", true, true),
        (nil, 0x28, "movaps load", true, false), (nil, 0x29, "movaps store", true, false),
        (0xF3, 0x7E, "movq xmm, xmm/m64", true, true), (0x66, 0xD6, "movq xmm/m64, xmm", true, true),
    ]

    mutating func next() -> UserCase {
        var userCase = UserCase(group: "sse", code: [], description: "", registers: rng.registers())
        var fpu = FPUState()
        for index in 0..<16 { fpu.setXMM(index, low: rng.value(), high: rng.chance(30) ? rng.value() : rng.next()) }
        if rng.chance(30) { fpu.setXMM(rng.below(16), low: fpu.xmm(rng.below(16)).low, high: fpu.xmm(rng.below(16)).high) }
        userCase.fpu = fpu
        var names: [String] = []
        for _ in 0..<(1 + rng.below(4)) {
            let reg = rng.below(16)
            switch rng.below(6) {
            case 0:
                // MOVD/MOVQ between a GPR and an XMM register, either way.
                let wide = rng.chance(50), toXMM = rng.chance(50)
                let gpr = rng.register()
                userCase.code += [0x66] + X86.rex(wide: wide, reg: reg, base: gpr) + [0x0F, toXMM ? 0x6E : 0x7E,
                                                                                    UInt8(0xC0 | (reg & 7) << 3 | (gpr & 7))]
                names.append("mov\(wide ? "q" : "d") \(toXMM ? "xmm\(reg), r\(gpr)" : "r\(gpr), xmm\(reg)")")
            case 1:
                let gpr = rng.register()
                userCase.code += X86.registers([0x0F, 0xD7], reg: gpr, rm: reg, wide: false, prefix: [0x66])
                names.append("pmovmskb r\(gpr), xmm\(reg)")
            default:
                let (prefix, opcode, name, _, unalignedOK) = rng.pick(Self.forms)
                let prefixBytes = prefix.map { [$0] } ?? []
                if rng.chance(40) {
                    // Misaligned operands only where the form allows them: this host's KVM turns the #GP(0) of a
                    // misaligned aligned-form access at CPL3 into #UD, so it cannot referee that fault.
                    let aligned = unalignedOK ? rng.chance(50) : true
                    let address = UInt32(UserModeLayout.data) + UInt32(rng.below(0x80)) * 16 + (aligned ? 0 : UInt32(1 + rng.below(15)))
                    userCase.code += X86.absolute([0x0F, opcode], reg: reg, address: address, wide: false, prefix: prefixBytes)
                    names.append("\(name) xmm\(reg), [\(hex(address))]")
                } else {
                    let other = rng.below(16)
                    userCase.code += X86.registers([0x0F, opcode], reg: reg, rm: other, wide: false, prefix: prefixBytes)
                    names.append("\(name) xmm\(reg), xmm\(other)")
                }
            }
        }
        userCase.code += X86.absolute([0x0F, 0xAE], reg: 0, address: Self.saveArea, wide: false)   // FXSAVE
        // MXCSR_MASK (bytes 28-31) describes the CPU model (the host reports 0x2FFFF, the soft CPU's model 0xFFFF),
        // not the state: the case clears it before the comparison. MOV dword [save + 28], 0.
        userCase.code += X86.absolute([0xC7], reg: 0, address: Self.saveArea + 28, wide: false) + [0, 0, 0, 0]
        userCase.description = names.joined(separator: "; ")
        return userCase
    }
}
