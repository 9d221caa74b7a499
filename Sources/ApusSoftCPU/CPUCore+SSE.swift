import ApusCore

/// SSE/SSE2/SSE3 on XMM registers: the dispatch by opcode and mandatory prefix, and operand access. The data moves
/// are in CPUCore+SSEMoves.swift, SSE3 in CPUCore+SSE3.swift, packed integer arithmetic in CPUCore+SSEInteger.swift,
/// floating point in CPUCore+SSEFloat.swift and CPUCore+SSEConvert.swift, the MMX forms in CPUCore+MMX.swift. The
/// XMM registers live in `fpu`'s FXSAVE image.
extension CPUCore {
    /// A 128-bit value as two little-endian halves.
    typealias Vector = (low: UInt64, high: UInt64)

    /// 0F opcodes the SSE/SSE2/SSE3 files execute (the prefix each form needs is checked where it runs).
    static func isSSEOpcode(_ op: Int) -> Bool {
        switch op {
        case 0x10...0x17, 0x28, 0x29, 0x2A...0x2F, 0x50...0x5F, 0x60...0x77, 0x7C...0x7F, 0xC2...0xC6, 0xD0...0xFE:
            return true
        default: return false
        }
    }

    func sse(_ i: inout Instruction, _ op: Int) throws {
        // The mandatory prefix: F3/F2 win over 66; none means the MMX/PS form.
        let prefix = i.repeatPrefix != 0 ? Int(i.repeatPrefix) : (i.operandSizePrefix ? 0x66 : 0)
        if op == 0xC3 {   // MOVNTI m32/m64, r: an integer store with a non-temporal hint (no cache here)
            let (modrm, operand) = try decodeModRM(&i)
            guard prefix == 0, case .memory = operand else { throw CPUFault.ud }
            let size = i.rexW ? 8 : 4
            try write(operand, size: size, register(modrm.reg, size: size), i)
            return
        }
        if prefix == 0 && Self.isMMXOpcode(op) { return try mmx(&i, op) }
        if sregs.cr0 & ControlRegister.cr0EM != 0 || sregs.cr4 & ControlRegister.cr4OSFXSR == 0 { throw CPUFault.ud }
        if sregs.cr0 & ControlRegister.cr0TS != 0 { throw CPUFault(vector: .deviceNotAvailable, errorCode: nil) }
        let (modrm, operand) = try decodeModRM(&i)
        switch op {
        case 0x12 where prefix >= 0xF2, 0x16 where prefix == 0xF3, 0xF0:   // SSE3's MOVSLDUP/MOVDDUP/MOVSHDUP, LDDQU
            try sse3Move(i, op, prefix: prefix, reg: modrm.reg, operand)
        case 0x7C, 0x7D, 0xD0:                                               // SSE3's HADD/HSUB, ADDSUB
            try sse3Arithmetic(i, op, prefix: prefix, reg: modrm.reg, operand)
        case 0x10...0x17, 0x28, 0x29, 0x2B, 0x50, 0x6E, 0x6F, 0x70, 0x7E, 0x7F, 0xC4...0xC6, 0xD6, 0xD7, 0xE7, 0xF7:
            try sseMove(&i, op, prefix: prefix, reg: modrm.reg, operand)
        case _ where Self.isSSEFloatOpcode(op):
            try sseFloat(&i, op, prefix: prefix, reg: modrm.reg, operand)
        default:
            // Packed integer arithmetic and the PS/PD logic forms: 66 (or none for 0F 54-57, the PS forms).
            guard prefix == 0x66 || (prefix == 0 && (0x54...0x57).contains(op)) else { throw CPUFault.ud }
            try packedInteger(&i, op, reg: modrm.reg, operand)
        }
    }

    func xmm(_ index: Int) -> Vector { fpu.xmm(index) }
    func setXMM(_ index: Int, _ value: Vector) { fpu.setXMM(index, low: value.low, high: value.high) }

    /// A 128-bit operand; legacy SSE memory operands must be 16-byte aligned unless the form says otherwise.
    func vector(_ operand: Operand, _ i: Instruction, aligned: Bool) throws -> Vector {
        switch operand {
        case .register(let index): return xmm(index)
        case .memory(let segment, let offset, let ripRelative):
            let address = ripRelative ? ripRelativeOffset(offset, i) : offset
            if aligned && linear(segment, address) & 0xF != 0 { throw CPUFault.gp() }
            return (try read(segment, address, size: 8), try read(segment, address &+ 8, size: 8))
        }
    }

    func quadword(_ operand: Operand, _ i: Instruction) throws -> UInt64 {
        if case .register(let index) = operand { return xmm(index).low }
        return try read(operand, size: 8, i)
    }

    /// Stores 16 bytes, checking both halves are writable first so a fault leaves memory untouched.
    func store(_ operand: Operand, _ i: Instruction, _ value: Vector, aligned: Bool) throws {
        switch operand {
        case .register(let index): setXMM(index, value)
        case .memory(let segment, let offset, let ripRelative):
            let address = ripRelative ? ripRelativeOffset(offset, i) : offset
            if aligned && linear(segment, address) & 0xF != 0 { throw CPUFault.gp() }
            let first = linear(segment, address), last = linear(segment, address &+ 15)
            try checkCanonical(first, segment)
            try checkCanonical(last, segment)
            _ = try translate(first, access: .write)
            _ = try translate(last, access: .write)
            try write(segment, address, size: 8, value.low)
            try write(segment, address &+ 8, size: 8, value.high)
        }
    }

    /// A 64-bit memory operand, or the low half of an XMM register.
    func storeQuadword(_ operand: Operand, _ i: Instruction, _ value: UInt64) throws {
        if case .register(let index) = operand { setXMM(index, (value, xmm(index).high)) } else {
            try write(operand, size: 8, value, i)
        }
    }
}

/// 32-bit lanes of a 128-bit value (lane 0 is the lowest).
@inline(__always)
func dword(_ v: CPUCore.Vector, _ lane: Int) -> UInt64 {
    ((lane < 2 ? v.low : v.high) >> UInt64(32 * (lane & 1))) & 0xFFFF_FFFF
}

@inline(__always)
func fromDwords(_ a: UInt64, _ b: UInt64, _ c: UInt64, _ d: UInt64) -> CPUCore.Vector {
    ((a & 0xFFFF_FFFF) | (b & 0xFFFF_FFFF) << 32, (c & 0xFFFF_FFFF) | (d & 0xFFFF_FFFF) << 32)
}
