import ApusCore
import ApusTesting

/// SSE/SSE2 integer, logic and data-movement instructions the soft CPU implements, from random XMM registers (random
/// lanes, repeated lanes, saturation edges), ending in FXSAVE to the data page so every XMM register and MXCSR are
/// compared through memory. Unaligned-capable forms get misaligned operands half the time; the aligned forms only
/// aligned ones (see below).
struct SSECases {
    /// The packed-integer opcodes SSE2 (66 prefix) and MMX (no prefix) share, in two runs around 6C-73, where the
    /// two maps differ.
    static let packedIntegerLow: [(UInt8, String)] = [
        (0x60, "punpcklbw"), (0x61, "punpcklwd"), (0x62, "punpckldq"), (0x63, "packsswb"), (0x64, "pcmpgtb"),
        (0x65, "pcmpgtw"), (0x66, "pcmpgtd"), (0x67, "packuswb"), (0x68, "punpckhbw"), (0x69, "punpckhwd"),
        (0x6A, "punpckhdq"), (0x6B, "packssdw"),
    ]
    static let packedIntegerHigh: [(UInt8, String)] = [
        (0x74, "pcmpeqb"), (0x75, "pcmpeqw"), (0x76, "pcmpeqd"), (0xD1, "psrlw"), (0xD2, "psrld"), (0xD3, "psrlq"),
        (0xD4, "paddq"), (0xD5, "pmullw"), (0xD8, "psubusb"), (0xD9, "psubusw"), (0xDA, "pminub"), (0xDB, "pand"),
        (0xDC, "paddusb"), (0xDD, "paddusw"), (0xDE, "pmaxub"), (0xDF, "pandn"), (0xE0, "pavgb"), (0xE1, "psraw"),
        (0xE2, "psrad"), (0xE3, "pavgw"), (0xE4, "pmulhuw"), (0xE5, "pmulhw"), (0xE8, "psubsb"), (0xE9, "psubsw"),
        (0xEA, "pminsw"), (0xEB, "por"), (0xEC, "paddsb"), (0xED, "paddsw"), (0xEE, "pmaxsw"), (0xEF, "pxor"),
        (0xF1, "psllw"), (0xF2, "pslld"), (0xF3, "psllq"), (0xF4, "pmuludq"), (0xF5, "pmaddwd"), (0xF6, "psadbw"),
        (0xF8, "psubb"), (0xF9, "psubw"), (0xFA, "psubd"), (0xFB, "psubq"), (0xFC, "paddb"), (0xFD, "paddw"),
        (0xFE, "paddd"),
    ]

    var rng: SplitMix64
    static let saveArea = UInt32(UserModeLayout.data + 0x1000)

    /// Where a form's r/m operand may be.
    enum Operand { case registerOrMemory, registerOnly, memoryOnly }

    struct Form {
        var prefix: UInt8?
        var opcode: UInt8
        var name: String
        var operand: Operand = .registerOrMemory
        /// The memory operand is 8 bytes or less, or an unaligned form: any address is fine.
        var unalignedOK = false
        var immediate = false
        /// The reg field is a general register (PEXTRW, MOVMSK*, PMOVMSKB destination; PINSRW's r/m too).
        var generalReg = false
        var generalRM = false
    }

    static let forms: [Form] = {
        var forms: [Form] = []
        // 66-prefixed packed integer forms, register or aligned memory.
        let packed: [(UInt8, String)] = Self.packedIntegerLow + [(0x6C, "punpcklqdq"), (0x6D, "punpckhqdq")]
            + Self.packedIntegerHigh + [
            (0x54, "andpd"), (0x55, "andnpd"), (0x56, "orpd"), (0x57, "xorpd"), (0x14, "unpcklpd"),
            (0x15, "unpckhpd"), (0x6F, "movdqa load"), (0x7F, "movdqa store"), (0x28, "movapd load"),
            (0x29, "movapd store"),
        ]
        forms += packed.map { Form(prefix: 0x66, opcode: $0.0, name: $0.1) }
        let packedSingle: [(UInt8, String)] = [
            (0x54, "andps"), (0x55, "andnps"), (0x56, "orps"), (0x57, "xorps"), (0x14, "unpcklps"), (0x15, "unpckhps"),
            (0x28, "movaps load"), (0x29, "movaps store"),
        ]
        forms += packedSingle.map { Form(prefix: nil, opcode: $0.0, name: $0.1) }
        forms += [
            Form(prefix: 0x66, opcode: 0x70, name: "pshufd", immediate: true),
            Form(prefix: 0xF3, opcode: 0x70, name: "pshufhw", immediate: true),
            Form(prefix: 0xF2, opcode: 0x70, name: "pshuflw", immediate: true),
            Form(prefix: nil, opcode: 0xC6, name: "shufps", immediate: true),
            Form(prefix: 0x66, opcode: 0xC6, name: "shufpd", immediate: true),
            Form(prefix: 0xF3, opcode: 0x6F, name: "movdqu load", unalignedOK: true),
            Form(prefix: 0xF3, opcode: 0x7F, name: "movdqu store", unalignedOK: true),
            Form(prefix: nil, opcode: 0x10, name: "movups load", unalignedOK: true),
            Form(prefix: nil, opcode: 0x11, name: "movups store", unalignedOK: true),
            Form(prefix: 0x66, opcode: 0x10, name: "movupd load", unalignedOK: true),
            Form(prefix: 0x66, opcode: 0x11, name: "movupd store", unalignedOK: true),
            Form(prefix: 0xF3, opcode: 0x10, name: "movss load", unalignedOK: true),
            Form(prefix: 0xF3, opcode: 0x11, name: "movss store", unalignedOK: true),
            Form(prefix: 0xF2, opcode: 0x10, name: "movsd load", unalignedOK: true),
            Form(prefix: 0xF2, opcode: 0x11, name: "movsd store", unalignedOK: true),
            Form(prefix: 0xF3, opcode: 0x7E, name: "movq xmm, xmm/m64", unalignedOK: true),
            Form(prefix: 0x66, opcode: 0xD6, name: "movq xmm/m64, xmm", unalignedOK: true),
            Form(prefix: nil, opcode: 0x12, name: "movhlps/movlps", unalignedOK: true),
            Form(prefix: nil, opcode: 0x16, name: "movlhps/movhps", unalignedOK: true),
            Form(prefix: 0x66, opcode: 0x12, name: "movlpd load", operand: .memoryOnly, unalignedOK: true),
            Form(prefix: 0x66, opcode: 0x16, name: "movhpd load", operand: .memoryOnly, unalignedOK: true),
            Form(prefix: nil, opcode: 0x13, name: "movlps store", operand: .memoryOnly, unalignedOK: true),
            Form(prefix: 0x66, opcode: 0x13, name: "movlpd store", operand: .memoryOnly, unalignedOK: true),
            Form(prefix: nil, opcode: 0x17, name: "movhps store", operand: .memoryOnly, unalignedOK: true),
            Form(prefix: 0x66, opcode: 0x17, name: "movhpd store", operand: .memoryOnly, unalignedOK: true),
            Form(prefix: nil, opcode: 0x2B, name: "movntps", operand: .memoryOnly),
            Form(prefix: 0x66, opcode: 0x2B, name: "movntpd", operand: .memoryOnly),
            Form(prefix: 0x66, opcode: 0xE7, name: "movntdq", operand: .memoryOnly),
            Form(prefix: 0x66, opcode: 0xC5, name: "pextrw", operand: .registerOnly, immediate: true, generalReg: true),
            Form(prefix: 0x66, opcode: 0xC4, name: "pinsrw", unalignedOK: true, immediate: true, generalRM: true),
            Form(prefix: 0x66, opcode: 0xD7, name: "pmovmskb", operand: .registerOnly, generalReg: true),
            Form(prefix: nil, opcode: 0x50, name: "movmskps", operand: .registerOnly, generalReg: true),
            Form(prefix: 0x66, opcode: 0x50, name: "movmskpd", operand: .registerOnly, generalReg: true),
        ]
        return forms
    }()

    /// A lane-structured random value: random bits, or lanes picked from saturation and sign edges.
    mutating func edgyQuadword() -> UInt64 {
        guard rng.chance(40) else { return rng.value() }
        let width = rng.pick([8, 16, 32])
        let edges: [UInt64] = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF]
        var value: UInt64 = 0
        for lane in 0..<(64 / width) {
            let mask: UInt64 = (1 << UInt64(width)) - 1
            value |= (rng.pick(edges) & mask) << UInt64(lane * width)
        }
        return value
    }

    mutating func next() -> UserCase {
        var userCase = UserCase(group: "sse", code: [], description: "", registers: rng.registers())
        var fpu = FPUState()
        for index in 0..<16 { fpu.setXMM(index, low: edgyQuadword(), high: rng.chance(30) ? edgyQuadword() : rng.next()) }
        if rng.chance(30) { fpu.setXMM(rng.below(16), low: fpu.xmm(rng.below(16)).low, high: fpu.xmm(rng.below(16)).high) }
        // Small shift counts in a few registers' low quadwords, so the by-register shifts do not all clear.
        for _ in 0..<4 where rng.chance(60) {
            let index = rng.below(16)
            fpu.setXMM(index, low: UInt64(rng.below(70)), high: fpu.xmm(index).high)
        }
        userCase.fpu = fpu
        var names: [String] = []
        for _ in 0..<(1 + rng.below(4)) {
            let reg = rng.below(16)
            switch rng.below(10) {
            case 0:
                // MOVD/MOVQ between a GPR and an XMM register, either way.
                let wide = rng.chance(50), toXMM = rng.chance(50)
                let gpr = rng.register()
                userCase.code += [0x66] + X86.rex(wide: wide, reg: reg, base: gpr) + [0x0F, toXMM ? 0x6E : 0x7E,
                                                                                    UInt8(0xC0 | (reg & 7) << 3 | (gpr & 7))]
                names.append("mov\(wide ? "q" : "d") \(toXMM ? "xmm\(reg), r\(gpr)" : "r\(gpr), xmm\(reg)")")
            case 1:
                // Shift by immediate: 71/72/73 with /2 /4 /6 (and /3 /7 byte shifts for 73), counts past the width too.
                let opcode = UInt8(rng.pick([0x71, 0x72, 0x73]))
                let kind = opcode == 0x73 ? rng.pick([2, 3, 6, 7]) : rng.pick([2, 4, 6])
                let count = UInt8(rng.chance(80) ? rng.below(20) : rng.below(256))
                userCase.code += X86.registers([0x0F, opcode], reg: kind, rm: reg, wide: false, prefix: [0x66]) + [count]
                names.append("shift 0f \(hex(opcode)) /\(kind) xmm\(reg), \(count)")
            case 2:
                // MOVNTI m32/m64, r
                let wide = rng.chance(50), gpr = rng.register()
                let address = UInt32(UserModeLayout.data) + UInt32(rng.below(0x7F0)) * 2
                userCase.code += X86.absolute([0x0F, 0xC3], reg: gpr, address: address, wide: wide)
                names.append("movnti [\(hex(address))], r\(gpr)")
            default:
                let form = rng.pick(Self.forms)
                let prefixBytes = form.prefix.map { [$0] } ?? []
                var useMemory = form.operand == .memoryOnly || (form.operand == .registerOrMemory && rng.chance(40))
                if form.operand == .registerOnly { useMemory = false }
                let regField = form.generalReg ? rng.register() : reg
                let immediate: [UInt8] = form.immediate ? [UInt8(truncatingIfNeeded: rng.next())] : []
                if useMemory {
                    // Misaligned operands only where the form allows them: this host's KVM turns the #GP(0) of a
                    // misaligned aligned-form access at CPL3 into #UD, so it cannot referee that fault.
                    let aligned = form.unalignedOK ? rng.chance(50) : true
                    let address = UInt32(UserModeLayout.data) + UInt32(rng.below(0x80)) * 16 + (aligned ? 0 : UInt32(1 + rng.below(15)))
                    userCase.code += X86.absolute([0x0F, form.opcode], reg: regField, address: address, wide: false,
                                                  prefix: prefixBytes) + immediate
                    names.append("\(form.name) \(regField), [\(hex(address))]")
                } else {
                    let other = form.generalRM ? rng.register() : rng.below(16)
                    userCase.code += X86.registers([0x0F, form.opcode], reg: regField, rm: other, wide: false,
                                                   prefix: prefixBytes) + immediate
                    names.append("\(form.name) \(regField), \(other)")
                }
                if !immediate.isEmpty { names[names.count - 1] += ", \(immediate[0])" }
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
