import ApusCore

/// MMX: the no-prefix forms of the packed-integer opcodes on MM0-7, which alias the x87 registers' significands in
/// the FXSAVE image. Lane arithmetic is shared with the XMM forms (CPUCore+SSEInteger.swift): an MMX operand runs as
/// the low half of a vector whose high half is zero, and only the forms whose lanes cross halves (packs, high
/// unpacks) are rearranged here.
extension CPUCore {
    /// No-prefix 0F opcodes that are MMX instructions (MMX, plus the SSE/SSE2 additions on MMX registers).
    static func isMMXOpcode(_ op: Int) -> Bool {
        switch op {
        case 0x60...0x6B, 0x6E...0x77, 0x7E, 0x7F, 0xC4, 0xC5, 0xD1...0xD5, 0xD7...0xE5, 0xE7...0xEF, 0xF1...0xFE:
            return true
        default: return false
        }
    }

    func mmx(_ i: inout Instruction, _ op: Int) throws {
        // MMX needs no OSFXSR; EM means #UD, TS #NM, and a pending x87 exception #MF, as for x87 instructions.
        if sregs.cr0 & ControlRegister.cr0EM != 0 { throw CPUFault.ud }
        if sregs.cr0 & ControlRegister.cr0TS != 0 { throw CPUFault(vector: .deviceNotAvailable, errorCode: nil) }
        if fpu.fxsave[2] & 0x80 != 0 { throw CPUFault(vector: .floatingPointError, errorCode: nil) }
        if op == 0x77 {   // EMMS: every x87 register empty; TOP ends at 0 too, as KVM's CPL3 runs show
            enterMMXMode()
            fpu.fxsave[4] = 0
            return
        }
        let (modrm, operand) = try decodeModRM(&i)
        let reg = modrm.reg & 7
        enterMMXMode()
        switch op {
        case 0x6E:   // MOVD/MOVQ mm, r/m32/64
            setMM(reg, try read(operand, size: i.rexW ? 8 : 4, i))
        case 0x7E:   // MOVD/MOVQ r/m32/64, mm
            let size = i.rexW ? 8 : 4
            try write(operand, size: size, mm(reg) & Flag.mask(size), i)
        case 0x6F:   // MOVQ mm, mm/m64
            setMM(reg, try mmOperand(operand, i))
        case 0x7F, 0xE7:   // MOVQ mm/m64, mm; MOVNTQ m64, mm (no cache here, so the hint changes nothing)
            if case .register(let index) = operand {
                guard op == 0x7F else { throw CPUFault.ud }
                setMM(index & 7, mm(reg))
            } else {
                try write(operand, size: 8, mm(reg), i)
            }
        case 0x70:   // PSHUFW mm, mm/m64, imm8
            let control = try fetch8(&i)   // before the operand: RIP-relative counts from the instruction's end
            let source = try mmOperand(operand, i)
            var shuffled: UInt64 = 0
            for lane in 0..<4 {
                let pick = (control >> UInt64(2 * lane)) & 3
                shuffled |= ((source >> (16 * pick)) & 0xFFFF) << UInt64(16 * lane)
            }
            setMM(reg, shuffled)
        case 0xC4:   // PINSRW mm, r32/m16, imm8
            let shift = UInt64(16 * (try fetch8(&i) & 3))
            let word: UInt64
            if case .register(let index) = operand { word = gpr[index] & 0xFFFF } else { word = try read(operand, size: 2, i) }
            setMM(reg, (mm(reg) & ~(0xFFFF << shift)) | word << shift)
        case 0xC5:   // PEXTRW r32, mm, imm8
            guard case .register(let index) = operand else { throw CPUFault.ud }
            let shift = UInt64(16 * (try fetch8(&i) & 3))
            setRegister(modrm.reg, size: 4, (mm(index & 7) >> shift) & 0xFFFF)
        case 0xD7:   // PMOVMSKB r32, mm
            guard case .register(let index) = operand else { throw CPUFault.ud }
            let source = mm(index & 7)
            var mask: UInt64 = 0
            for byte in 0..<8 { mask |= ((source >> UInt64(8 * byte + 7)) & 1) << UInt64(byte) }
            setRegister(modrm.reg, size: 8, mask)
        case 0xF7:   // MASKMOVQ mm, mm: the selected bytes to DS:rDI
            guard case .register(let index) = operand else { throw CPUFault.ud }
            let data = mm(reg), mask = mm(index & 7)
            let base = gpr[7] & Flag.mask(i.addressSize)
            for byte in 0..<8 where (mask >> UInt64(8 * byte + 7)) & 1 != 0 {
                let value = (data >> UInt64(8 * byte)) & 0xFF
                try write(i.segment ?? .ds, (base &+ UInt64(byte)) & Flag.mask(i.addressSize), size: 1, value)
            }
        case 0x71, 0x72, 0x73:   // shifts by immediate; the MMX groups have no byte shifts (73 /3, /7)
            guard case .register(let index) = operand else { throw CPUFault.ud }
            let count = try fetch8(&i)
            let kind = reg
            guard kind == 2 || kind == 6 || (kind == 4 && op != 0x73) else { throw CPUFault.ud }
            let width = op == 0x71 ? 16 : op == 0x72 ? 32 : 64
            setMM(index & 7, laneShift((mm(index & 7), 0), width: width, kind: kind, count: count).low)
        case 0x60...0x62:   // PUNPCKL*: the source is mm/m32
            let source: UInt64
            if case .register(let index) = operand { source = mm(index & 7) } else { source = try read(operand, size: 4, i) }
            setMM(reg, try packedBinary(op, (mm(reg), 0), (source & 0xFFFF_FFFF, 0)).low)
        case 0x68...0x6A:   // PUNPCKH*: interleave the upper dwords, as the low form does the lower ones
            let source = try mmOperand(operand, i)
            setMM(reg, try packedBinary(op - 8, (mm(reg) >> 32, 0), (source >> 32, 0)).low)
        case 0x63, 0x67, 0x6B:   // packs: the destination's lanes fill the low dword, the source's the high one
            let packed = try packedBinary(op, (mm(reg), 0), (try mmOperand(operand, i), 0))
            setMM(reg, packed.low & 0xFFFF_FFFF | packed.high << 32)
        default:
            let source = try mmOperand(operand, i)
            setMM(reg, try packedBinary(op, (mm(reg), 0), (source, 0)).low)
        }
    }

    /// Any MMX instruction but EMMS sets TOP to 0 and marks every x87 register valid (SDM Vol. 1, 9.5.1). The
    /// image holds the registers in stack order (slot i is ST(i), physical register (TOP + i) mod 8) while MMi is
    /// physical register i, so a nonzero TOP rotates the slots to keep each physical register's contents.
    func enterMMXMode() {
        let top = Int(fpu.fxsave[3] >> 3) & 7
        if top != 0 {
            let slots = Array(fpu.fxsave[32..<160])
            for physical in 0..<8 {
                let from = 16 * ((physical - top) & 7)
                fpu.fxsave.replaceSubrange((32 + 16 * physical)..<(48 + 16 * physical), with: slots[from..<(from + 16)])
            }
        }
        fpu.fxsave[3] &= ~0x38
        fpu.fxsave[4] = 0xFF
    }

    /// MMi is the significand of x87 register i, in FXSAVE bytes 32 + 16i.
    func mm(_ index: Int) -> UInt64 {
        let base = 32 + 16 * index
        return (0..<8).reversed().reduce(0) { $0 << 8 | UInt64(fpu.fxsave[base + $1]) }
    }

    /// Writing MMi also sets the register's exponent and sign (bits 79:64) to all ones.
    func setMM(_ index: Int, _ value: UInt64) {
        let base = 32 + 16 * index
        for byte in 0..<8 { fpu.fxsave[base + byte] = UInt8(truncatingIfNeeded: value >> UInt64(8 * byte)) }
        fpu.fxsave[base + 8] = 0xFF
        fpu.fxsave[base + 9] = 0xFF
    }

    /// An mm/m64 source (no alignment requirement).
    private func mmOperand(_ operand: Operand, _ i: Instruction) throws -> UInt64 {
        if case .register(let index) = operand { return mm(index & 7) }
        return try read(operand, size: 8, i)
    }
}
