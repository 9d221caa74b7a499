import ApusCore

/// The VEX prefixes C4 (three-byte) and C5 (two-byte), decoded just far enough for the general-register
/// instructions of BMI1 and BMI2 (CPUCore+BMI.swift). AVX is not advertised: every other VEX opcode is #UD.
/// The dispatch table sends C4/C5 here in 64-bit mode and, in 16- and 32-bit protected mode, where the next byte is a
/// register ModRM (mod = 11), as the maps list them; otherwise, and always in real and virtual-8086 mode, they are
/// LES/LDS.
extension CPUCore {
    /// What a VEX prefix carries besides the REX bits (which go into `i.rex`).
    struct VEXFields {
        /// 1: 0F, 2: 0F 38, 3: 0F 3A.
        var map: Int
        /// The implied prefix: 0 none, 1 66, 2 F3, 3 F2.
        var impliedPrefix: Int
        /// The extra register operand, already un-inverted.
        var vvvv: Int
        var long: Bool
    }

    /// Runs a VEX-encoded instruction and returns true, or returns false when C4/C5 is LES/LDS here.
    func vexInstruction(_ i: inout Instruction, _ op: Int) throws -> Bool {
        guard protectedMode, rflags & (1 << 17) == 0 else { return false }
        if !is64BitCode {
            var peek = i
            guard try fetch8(&peek) >> 6 == 3 else { return false }
        }
        // A REX, 66, F2, F3 or LOCK prefix before VEX is #UD.
        guard i.rex == 0, !i.operandSizePrefix, i.repeatPrefix == 0, !i.lock else { throw CPUFault.ud }
        let first = Int(try fetch8(&i))
        var fields: VEXFields
        var rex = 0x40
        if op == 0xC5 {
            rex |= first & 0x80 == 0 ? 4 : 0
            fields = VEXFields(map: 1, impliedPrefix: first & 3, vvvv: ~first >> 3 & 15, long: first & 4 != 0)
        } else {
            let second = Int(try fetch8(&i))
            rex |= (first & 0x80 == 0 ? 4 : 0) | (first & 0x40 == 0 ? 2 : 0) | (first & 0x20 == 0 ? 1 : 0)
            rex |= second & 0x80 != 0 ? 8 : 0
            fields = VEXFields(map: first & 0x1F, impliedPrefix: second & 3, vvvv: ~second >> 3 & 15, long: second & 4 != 0)
        }
        if is64BitCode {
            i.rex = UInt8(rex)
        } else {
            // Outside 64-bit mode R, X, B, W and vvvv's top bit are ignored (R and X are what made this VEX).
            i.rex = 0
            fields.vvvv &= 7
        }
        i.operandSize = i.rexW ? 8 : 4   // VEX general-register instructions are 32- or 64-bit in every mode
        let opcode = Int(try fetch8(&i))
        try bitManipulation(&i, opcode, fields)
        return true
    }
}
