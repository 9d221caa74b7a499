import ApusCore

/// The SSE2 integer and move subset static glibc leans on (string and memory functions): MOVD/MOVQ, MOVDQA/MOVDQU,
/// MOVAPS/MOVUPS, PXOR/PAND/PANDN/POR/XORPS, PADD*/PSUB*, PCMPEQ*, PMOVMSKB. The XMM registers live in `fpu`'s
/// FXSAVE image. Other SSE (and all MMX) forms stay #UD.
extension CPUCore {
    /// A 128-bit value as two little-endian halves.
    typealias Vector = (low: UInt64, high: UInt64)

    /// 0F opcodes this file executes (with the prefix each needs checked in `sse`).
    static func isSSEOpcode(_ op: Int) -> Bool {
        switch op {
        case 0x28, 0x29, 0x57, 0x6E, 0x6F, 0x74, 0x75, 0x76, 0x7E, 0x7F, 0xD4, 0xD6, 0xD7, 0xDB, 0xDF, 0xEB, 0xEF,
             0xF8...0xFB, 0xFC...0xFE:
            return true
        default: return false
        }
    }

    func sse(_ i: inout Instruction, _ op: Int) throws {
        // The mandatory prefix: F3/F2 win over 66; none means the MMX/PS form.
        let prefix = i.repeatPrefix != 0 ? Int(i.repeatPrefix) : (i.operandSizePrefix ? 0x66 : 0)
        if sregs.cr0 & ControlRegister.cr0EM != 0 || sregs.cr4 & ControlRegister.cr4OSFXSR == 0 { throw CPUFault.ud }
        if sregs.cr0 & ControlRegister.cr0TS != 0 { throw CPUFault(vector: .deviceNotAvailable, errorCode: nil) }
        let (modrm, operand) = try decodeModRM(&i)
        let reg = modrm.reg
        switch (prefix, op) {
        case (0, 0x28), (0x66, 0x28), (0x66, 0x6F):    // MOVAPS, MOVAPD, MOVDQA xmm, xmm/m128
            setXMM(reg, try vector(operand, i, aligned: true))
        case (0xF3, 0x6F):                           // MOVDQU xmm, xmm/m128
            setXMM(reg, try vector(operand, i, aligned: false))
        case (0, 0x29), (0x66, 0x29), (0x66, 0x7F):    // MOVAPS, MOVAPD, MOVDQA xmm/m128, xmm
            try store(operand, i, xmm(reg), aligned: true)
        case (0xF3, 0x7F):                           // MOVDQU xmm/m128, xmm
            try store(operand, i, xmm(reg), aligned: false)
        case (0x66, 0x6E):                           // MOVD/MOVQ xmm, r/m32/64
            let size = i.rexW ? 8 : 4
            setXMM(reg, (try read(operand, size: size, i), 0))
        case (0x66, 0x7E):                           // MOVD/MOVQ r/m32/64, xmm
            let size = i.rexW ? 8 : 4
            try write(operand, size: size, xmm(reg).low & Flag.mask(size), i)
        case (0xF3, 0x7E):                           // MOVQ xmm, xmm/m64 (clears the upper half)
            let value = try quadword(operand, i)
            setXMM(reg, (value, 0))
        case (0x66, 0xD6):                           // MOVQ xmm/m64, xmm
            if case .register(let index) = operand { setXMM(index, (xmm(reg).low, 0)) }
            else { try write(operand, size: 8, xmm(reg).low, i) }
        case (0x66, 0xD7):                           // PMOVMSKB r32, xmm
            guard case .register(let index) = operand else { throw CPUFault.ud }
            let source = xmm(index)
            var mask: UInt64 = 0
            for byte in 0..<16 {
                let half = byte < 8 ? source.low : source.high
                mask |= ((half >> UInt64(8 * (byte % 8) + 7)) & 1) << UInt64(byte)
            }
            setRegister(reg, size: 8, mask)
        case (0x66, 0x74...0x76), (0x66, 0xD4), (0x66, 0xDB), (0x66, 0xDF), (0x66, 0xEB), (0x66, 0xEF),
             (0x66, 0xF8...0xFE), (0, 0x57), (0x66, 0x57):
            let source = try vector(operand, i, aligned: true)
            let destination = xmm(reg)
            setXMM(reg, (lanes(op, destination.low, source.low), lanes(op, destination.high, source.high)))
        default:
            throw CPUFault.ud
        }
    }

    /// One 64-bit half of a packed logic, add, subtract or compare.
    private func lanes(_ op: Int, _ a: UInt64, _ b: UInt64) -> UInt64 {
        switch op {
        case 0xEF, 0x57: return a ^ b
        case 0xDB: return a & b
        case 0xDF: return ~a & b
        case 0xEB: return a | b
        default: break
        }
        let width: UInt64
        switch op {
        case 0xFC, 0xF8, 0x74: width = 8
        case 0xFD, 0xF9, 0x75: width = 16
        case 0xFE, 0xFA, 0x76: width = 32
        default: width = 64
        }
        let mask: UInt64 = width == 64 ? .max : (1 << width) - 1
        var result: UInt64 = 0
        for shift in stride(from: UInt64(0), to: 64, by: Int(width)) {
            let x = (a >> shift) & mask, y = (b >> shift) & mask
            let lane: UInt64
            switch op {
            case 0x74, 0x75, 0x76: lane = x == y ? mask : 0
            case 0xF8, 0xF9, 0xFA, 0xFB: lane = (x &- y) & mask
            default: lane = (x &+ y) & mask
            }
            result |= lane << shift
        }
        return result
    }

    func xmm(_ index: Int) -> Vector { fpu.xmm(index) }
    func setXMM(_ index: Int, _ value: Vector) { fpu.setXMM(index, low: value.low, high: value.high) }

    /// A 128-bit operand; legacy SSE memory operands must be 16-byte aligned unless the form says otherwise.
    private func vector(_ operand: Operand, _ i: Instruction, aligned: Bool) throws -> Vector {
        switch operand {
        case .register(let index): return xmm(index)
        case .memory(let segment, let offset, let ripRelative):
            let address = ripRelative ? offset &+ i.ip : offset
            if aligned && linear(segment, address) & 0xF != 0 { throw CPUFault.gp() }
            return (try read(segment, address, size: 8), try read(segment, address &+ 8, size: 8))
        }
    }

    private func quadword(_ operand: Operand, _ i: Instruction) throws -> UInt64 {
        if case .register(let index) = operand { return xmm(index).low }
        return try read(operand, size: 8, i)
    }

    /// Stores 16 bytes, checking both halves are writable first so a fault leaves memory untouched.
    private func store(_ operand: Operand, _ i: Instruction, _ value: Vector, aligned: Bool) throws {
        switch operand {
        case .register(let index): setXMM(index, value)
        case .memory(let segment, let offset, let ripRelative):
            let address = ripRelative ? offset &+ i.ip : offset
            if aligned && linear(segment, address) & 0xF != 0 { throw CPUFault.gp() }
            for part in [address, address &+ 15] {
                let linearAddress = linear(segment, part)
                try checkCanonical(linearAddress, segment)
                _ = try translate(linearAddress, access: .write)
            }
            try write(segment, address, size: 8, value.low)
            try write(segment, address &+ 8, size: 8, value.high)
        }
    }
}
