import ApusCore

/// The x87 last-instruction pointers (SDM Vol. 1, 8.1.8-8.1.10): the opcode (FOP: the low three bits of the escape
/// byte, then ModRM), the instruction's address (FIP) and its memory operand's (FDP) of the last non-control
/// instruction. They live where FXSAVE64 puts them in `fpu.fxsave` (FOP at 6, FIP at 8, FDP at 16, 64 bits each);
/// FCS and FDS are not kept, as CPUID leaf 7 says (EBX bit 13: they are stored as zero). In real-address mode the
/// pointers are linear addresses, which is what the real-mode environment layout holds; a register-only instruction
/// leaves FDP as it was.
extension CPUCore {
    /// Control instructions leave the pointers alone: FLDENV, FLDCW, FNSTENV, FNSTCW (D9 /4-/7), FRSTOR, FNSAVE,
    /// FNSTSW (DD /4, /6, /7), FNOP, FDECSTP, FINCSTP, FFREE and FFREEP (FNINIT, FNCLEX and FNSTSW AX never get here).
    static func isX87Control(_ opcode: Int, _ modrm: ModRM) -> Bool {
        let kind = modrm.reg & 7
        if modrm.mod != 3 {
            return (opcode == 0xD9 && kind >= 4) || (opcode == 0xDD && (kind == 4 || kind >= 6))
        }
        switch opcode {
        case 0xD9: return (kind == 2 && modrm.rm & 7 == 0) || (kind == 6 && modrm.rm & 7 >= 6)
        case 0xDD, 0xDF: return kind == 0
        default: return false
        }
    }

    func recordX87Pointers(_ opcode: Int, _ modrm: ModRM, _ operand: Operand, _ i: Instruction) throws {
        let modrmByte = modrm.mod << 6 | (modrm.reg & 7) << 3 | (modrm.rm & 7)
        x87Opcode = UInt16(opcode & 7) << 8 | UInt16(modrmByte)
        x87InstructionPointer = protectedMode ? i.start : sregs.cs.base &+ (i.start & 0xFFFF)
        if modrm.mod != 3 {
            let (segment, offset) = try effectiveOffset(operand, i)
            x87DataPointer = protectedMode ? offset : self[segment].base &+ offset
        }
    }

    var x87Opcode: UInt16 {
        get { UInt16(fpu.fxsave[6]) | UInt16(fpu.fxsave[7]) << 8 }
        set { fpu.fxsave[6] = UInt8(truncatingIfNeeded: newValue); fpu.fxsave[7] = UInt8(truncatingIfNeeded: newValue >> 8) }
    }

    var x87InstructionPointer: UInt64 {
        get { fxsaveQuadword(at: 8) }
        set { setFxsaveQuadword(at: 8, newValue) }
    }

    var x87DataPointer: UInt64 {
        get { fxsaveQuadword(at: 16) }
        set { setFxsaveQuadword(at: 16, newValue) }
    }

    private func fxsaveQuadword(at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(fpu.fxsave[offset + $1]) << (8 * UInt64($1)) }
    }

    private func setFxsaveQuadword(at offset: Int, _ value: UInt64) {
        for index in 0..<8 { fpu.fxsave[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
    }

    /// The pointer words of the 14- and 28-byte environment (FNSTENV, FNSAVE; SDM Vol. 1, Figures 8-9 to 8-12):
    /// in protected mode FIP, FCS (and FOP in its upper half in the 32-bit layout), FDP, FDS; in real-address mode
    /// the low 16 bits of each linear pointer, then its upper bits at bit 12 (with FOP below them).
    func x87EnvironmentPointerWords(wordSize: Int) -> [UInt64] {
        let ip = x87InstructionPointer, dp = x87DataPointer, fop = UInt64(x87Opcode & 0x7FF)
        if protectedMode {
            if wordSize == 2 { return [ip & 0xFFFF, 0, dp & 0xFFFF, 0] }
            return [ip & 0xFFFF_FFFF, fop << 16, dp & 0xFFFF_FFFF, 0xFFFF_0000]
        }
        let upperMask: UInt64 = wordSize == 2 ? 0xF : 0xFFFF
        return [ip & 0xFFFF, ((ip >> 16) & upperMask) << 12 | fop, dp & 0xFFFF, ((dp >> 16) & upperMask) << 12]
    }

    /// FLDENV and FRSTOR load the pointers back from the same words.
    func loadX87EnvironmentPointers(_ words: [UInt64], wordSize: Int) {
        if protectedMode {
            x87InstructionPointer = words[0] & (wordSize == 2 ? 0xFFFF : 0xFFFF_FFFF)
            x87Opcode = wordSize == 2 ? 0 : UInt16((words[1] >> 16) & 0x7FF)
            x87DataPointer = words[2] & (wordSize == 2 ? 0xFFFF : 0xFFFF_FFFF)
            return
        }
        let upperMask: UInt64 = wordSize == 2 ? 0xF : 0xFFFF
        x87InstructionPointer = words[0] & 0xFFFF | ((words[1] >> 12) & upperMask) << 16
        x87Opcode = UInt16(words[1] & 0x7FF)
        x87DataPointer = words[2] & 0xFFFF | ((words[3] >> 12) & upperMask) << 16
    }
}
