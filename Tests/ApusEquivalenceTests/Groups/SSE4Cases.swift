import ApusCore
import ApusTesting

/// SSSE3, SSE4.1 and SSE4.2 (the 66 0F 38 / 66 0F 3A forms, CRC32) from random general and XMM registers and a
/// random MXCSR, ending in FXSAVE to the data page so every XMM register and MXCSR are compared through memory: the
/// results that depend on the destination's old value (blends, inserts, PALIGNR, PSIGN...) are refereed too. XMM
/// lanes are integer edges, float edges (for ROUND*, DPPS/DPPD) or short strings over a small alphabet with zero
/// terminators (for PCMPxSTRx); EAX and EDX often hold small signed lengths for PCMPESTRx.
struct SSE4Cases {
    var rng: SplitMix64
    static let saveArea = UInt32(UserModeLayout.data + 0x1000)

    struct Form {
        var map: UInt8
        var opcode: UInt8
        var name: String
        var prefix: [UInt8] = [0x66]
        /// Bytes a memory operand reads or writes; 0 for a register-only form.
        var memorySize = 16
        /// A memory operand may be misaligned (the forms that read or write fewer than 16 bytes, PCMPxSTRx).
        var unaligned = false
        var immediate = false
        /// ModRM.reg is a general register (CRC32).
        var generalReg = false
        /// A register r/m operand is a general register (PEXTR*, EXTRACTPS, PINSRB/D/Q, CRC32).
        var generalRM = false
        var registerOnly = false
        var memoryOnly = false
    }

    static let forms: [Form] = {
        var forms: [Form] = []
        let ssse3: [(UInt8, String)] = [(0x00, "pshufb"), (0x01, "phaddw"), (0x02, "phaddd"), (0x03, "phaddsw"),
                                        (0x04, "pmaddubsw"), (0x05, "phsubw"), (0x06, "phsubd"), (0x07, "phsubsw"),
                                        (0x08, "psignb"), (0x09, "psignw"), (0x0A, "psignd"), (0x0B, "pmulhrsw"),
                                        (0x1C, "pabsb"), (0x1D, "pabsw"), (0x1E, "pabsd")]
        forms += ssse3.map { Form(map: 0x38, opcode: $0.0, name: $0.1) }
        forms.append(Form(map: 0x3A, opcode: 0x0F, name: "palignr", immediate: true))
        let packed38: [(UInt8, String)] = [(0x10, "pblendvb"), (0x14, "blendvps"), (0x15, "blendvpd"), (0x17, "ptest"),
                                           (0x28, "pmuldq"), (0x29, "pcmpeqq"), (0x2B, "packusdw"), (0x37, "pcmpgtq"),
                                           (0x38, "pminsb"), (0x39, "pminsd"), (0x3A, "pminuw"), (0x3B, "pminud"),
                                           (0x3C, "pmaxsb"), (0x3D, "pmaxsd"), (0x3E, "pmaxuw"), (0x3F, "pmaxud"),
                                           (0x40, "pmulld"), (0x41, "phminposuw")]
        forms += packed38.map { Form(map: 0x38, opcode: $0.0, name: $0.1) }
        for (offset, name) in ["bw", "bd", "bq", "wd", "wq", "dq"].enumerated() {
            let size = [8, 4, 2, 8, 4, 8][offset]
            forms.append(Form(map: 0x38, opcode: UInt8(0x20 + offset), name: "pmovsx" + name, memorySize: size, unaligned: true))
            forms.append(Form(map: 0x38, opcode: UInt8(0x30 + offset), name: "pmovzx" + name, memorySize: size, unaligned: true))
        }
        forms.append(Form(map: 0x38, opcode: 0x2A, name: "movntdqa", memoryOnly: true))
        let packed3A: [(UInt8, String)] = [(0x08, "roundps"), (0x09, "roundpd"), (0x0C, "blendps"), (0x0D, "blendpd"),
                                           (0x0E, "pblendw"), (0x40, "dpps"), (0x41, "dppd"), (0x42, "mpsadbw")]
        forms += packed3A.map { Form(map: 0x3A, opcode: $0.0, name: $0.1, immediate: true) }
        forms.append(Form(map: 0x3A, opcode: 0x0A, name: "roundss", memorySize: 4, unaligned: true, immediate: true))
        forms.append(Form(map: 0x3A, opcode: 0x0B, name: "roundsd", memorySize: 8, unaligned: true, immediate: true))
        for (opcode, name, size) in [(UInt8(0x14), "pextrb", 1), (0x15, "pextrw", 2), (0x16, "pextrd/q", 4),
                                     (0x17, "extractps", 4), (0x20, "pinsrb", 1), (0x22, "pinsrd/q", 4)] {
            forms.append(Form(map: 0x3A, opcode: opcode, name: name, memorySize: size, unaligned: true, immediate: true,
                              generalRM: true))
        }
        forms.append(Form(map: 0x3A, opcode: 0x21, name: "insertps", memorySize: 4, unaligned: true, immediate: true))
        for (opcode, name) in [(UInt8(0x60), "pcmpestrm"), (0x61, "pcmpestri"), (0x62, "pcmpistrm"), (0x63, "pcmpistri")] {
            forms.append(Form(map: 0x3A, opcode: opcode, name: name, unaligned: true, immediate: true))
        }
        forms.append(Form(map: 0x38, opcode: 0xF0, name: "crc32 r, r/m8", prefix: [0xF2], memorySize: 1, unaligned: true,
                          generalReg: true, generalRM: true))
        forms.append(Form(map: 0x38, opcode: 0xF1, name: "crc32 r, r/m", prefix: [0xF2], memorySize: 4, unaligned: true,
                          generalReg: true, generalRM: true))
        forms.append(Form(map: 0x38, opcode: 0xF1, name: "crc32 r, r/m16", prefix: [0x66, 0xF2], memorySize: 2,
                          unaligned: true, generalReg: true, generalRM: true))
        return forms
    }()

    init(rng: SplitMix64) { self.rng = rng }

    /// 64 bits of lanes: integer edges, float edges, or string bytes.
    mutating func lanes() -> UInt64 {
        switch rng.below(10) {
        case 0, 1, 2:
            let alphabet: [UInt8] = [0, 0x61, 0x62, 0x63, 0x64, 0x7F, 0x80, 0xFF]
            return (0..<8).reduce(UInt64(0)) { value, index in
                value | UInt64(rng.chance(25) ? 0 : rng.pick(alphabet)) << UInt64(8 * index)
            }
        case 3, 4:
            let singles: [UInt32] = [0, 0x8000_0000, 0x3F00_0000, 0x3FC0_0000, 0x4020_0000, 0xC020_0000, 0x0000_0001,
                                     0x8070_0000, 0x7F80_0000, 0xFF80_0000, 0x7FC0_0000, 0x7F80_0001, 0x4B00_0001,
                                     0x3F7F_FFFF, UInt32(truncatingIfNeeded: rng.next())]
            return UInt64(rng.pick(singles)) | UInt64(rng.pick(singles)) << 32
        case 5:
            let doubles: [UInt64] = [0, 0x8000_0000_0000_0000, 0x3FE0_0000_0000_0000, 0x4004_0000_0000_0000,
                                     0xC004_0000_0000_0000, 0x0000_0000_0000_0001, 0x7FF0_0000_0000_0000,
                                     0x7FF8_0000_0000_0000, 0x7FF0_0000_0000_0001, 0x4330_0000_0000_0001, rng.next()]
            return rng.pick(doubles)
        default:
            guard rng.chance(50) else { return rng.value() }
            let width = rng.pick([8, 16, 32])
            let edges: [UInt64] = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF]
            var value: UInt64 = 0
            for lane in 0..<(64 / width) {
                value |= (rng.pick(edges) & ((1 << UInt64(width)) - 1)) << UInt64(lane * width)
            }
            return value
        }
    }

    mutating func next() -> UserCase {
        var userCase = UserCase(group: "sse4", code: [], description: "", registers: rng.registers())
        var fpu = FPUState()
        for index in 0..<16 { fpu.setXMM(index, low: lanes(), high: lanes()) }
        var mxcsr: UInt32 = 0x1F80 | UInt32(rng.below(4)) << 13
        if rng.chance(20) { mxcsr |= 0x40 }          // DAZ
        if rng.chance(20) { mxcsr |= 0x8000 }        // FTZ
        if rng.chance(10) { mxcsr &= ~(UInt32(1) << UInt32(7 + rng.below(6))) }   // one exception unmasked
        if rng.chance(20) { mxcsr |= UInt32(rng.below(64)) }                      // sticky flags already set
        fpu.mxcsr = mxcsr
        userCase.fpu = fpu
        // Explicit string lengths (PCMPESTRx): small, signed, sometimes past the element count.
        if rng.chance(70) { userCase.registers.rax = UInt64(bitPattern: Int64(rng.below(41) - 20)) }
        if rng.chance(70) { userCase.registers.rdx = UInt64(bitPattern: Int64(rng.below(41) - 20)) }
        var names: [String] = []
        for _ in 0..<(1 + rng.below(3)) {
            let form = rng.pick(Self.forms)
            let opcode: [UInt8] = [0x0F, form.map, form.opcode]
            let wide = (form.generalRM || form.generalReg) && rng.chance(50)
            let reg = form.generalReg ? rng.register() : rng.below(16)
            let immediate: [UInt8] = form.immediate ? [UInt8(truncatingIfNeeded: rng.next())] : []
            let useMemory = form.memoryOnly || (!form.registerOnly && rng.chance(40))
            if useMemory {
                // Misaligned only where the form allows it: this host's KVM turns the #GP(0) of a misaligned
                // aligned-form access at CPL3 into #UD, so it cannot referee that fault.
                let misaligned = form.unaligned && rng.chance(50)
                let address = UInt32(UserModeLayout.data) + UInt32(rng.below(0x80)) * 16
                    + (misaligned ? UInt32(1 + rng.below(15)) : 0)
                userCase.code += X86.absolute(opcode, reg: reg, address: address, wide: wide, prefix: form.prefix) + immediate
                names.append("\(form.name)\(wide ? " (W)" : "") \(reg), [\(hex(address))]")
            } else {
                let rm = form.generalRM ? rng.register() : rng.below(16)
                userCase.code += X86.registers(opcode, reg: reg, rm: rm, wide: wide, prefix: form.prefix) + immediate
                names.append("\(form.name)\(wide ? " (W)" : "") \(reg), \(rm)")
            }
            if let value = immediate.first { names[names.count - 1] += ", \(hex(value))" }
        }
        userCase.code += X86.absolute([0x0F, 0xAE], reg: 0, address: Self.saveArea, wide: false)   // FXSAVE
        // MXCSR_MASK (bytes 28-31) describes the CPU model, not the state: cleared before the comparison.
        userCase.code += X86.absolute([0xC7], reg: 0, address: Self.saveArea + 28, wide: false) + [0, 0, 0, 0]
        userCase.description = names.joined(separator: "; ")
        return userCase
    }
}
