/// The one-byte opcode map (SDM Vol. 2 Table A-2) with the group extensions of Table A-6 and the x87 escapes of
/// Tables.
extension OpcodeMap {
    static let oneByte: [OpcodeMapEntry] = {
        var t = OpcodeRows(.oneByte)
        let alu = ["ADD", "OR", "ADC", "SBB", "AND", "SUB", "XOR", "CMP"]
        let legacyRows: [UInt8: String] = [0x06: "PUSH ES", 0x07: "POP ES", 0x0E: "PUSH CS", 0x16: "PUSH SS",
                                           0x17: "POP SS", 0x1E: "PUSH DS", 0x1F: "POP DS", 0x27: "DAA",
                                           0x2F: "DAS", 0x37: "AAA", 0x3F: "AAS"]
        let segmentPrefixes: [UInt8: String] = [0x26: "ES:", 0x2E: "CS:", 0x36: "SS:", 0x3E: "DS:"]
        for row in 0..<8 {
            let base = UInt8(row * 8)
            let name = alu[row]
            t.add(base, name + " Eb,Gb", form: .any, lock: row != 7)
            t.add(base + 1, name + " Ev,Gv", form: .any, lock: row != 7)
            t.add(base + 2, name + " Gb,Eb", form: .any)
            t.add(base + 3, name + " Gv,Ev", form: .any)
            t.add(base + 4, name + " AL,Ib")
            t.add(base + 5, name + " rAX,Iz")
            for opcode in [base + 6, base + 7] {
                if opcode == 0x0F { t.add(0x0F, "two-byte escape", .prefix); continue }
                if let legacy = legacyRows[opcode] { t.add(opcode, legacy, modes: .legacy); continue }
                t.add(opcode, "segment prefix " + segmentPrefixes[opcode]!, .prefix)
            }
        }
        for register in 0..<8 {
            t.add(0x40 + UInt8(register), "INC r\(register)", modes: .legacy)
            t.add(0x48 + UInt8(register), "DEC r\(register)", modes: .legacy)
        }
        for opcode in UInt8(0x40)...0x4F { t.add(opcode, "REX prefix", .prefix, modes: .long64) }
        for register in 0..<8 { t.add(0x50 + UInt8(register), "PUSH r\(register)") }
        for register in 0..<8 { t.add(0x58 + UInt8(register), "POP r\(register)") }
        t.add(0x60, "PUSHA/PUSHAD", modes: .legacy)
        t.add(0x61, "POPA/POPAD", modes: .legacy)
        t.add(0x62, "BOUND Gv,Ma", form: .memoryOnly, modes: .legacy)
        t.reserved(0x62, form: .memoryOnly, modes: .long64, "(EVEX prefix; #UD without AVX-512)")
        t.add(0x63, "ARPL Ew,Gw", form: .any, modes: .protected)
        t.reserved(0x63, form: .any, modes: .real, "ARPL (#UD in real-address mode)")
        t.add(0x63, "MOVSXD Gv,Ed", form: .any, modes: .long64)
        t.add(0x64, "segment prefix FS:", .prefix)
        t.add(0x65, "segment prefix GS:", .prefix)
        t.add(0x66, "operand-size prefix", .prefix)
        t.add(0x67, "address-size prefix", .prefix)
        t.add(0x68, "PUSH Iz")
        t.add(0x69, "IMUL Gv,Ev,Iz", form: .any)
        t.add(0x6A, "PUSH Ib")
        t.add(0x6B, "IMUL Gv,Ev,Ib", form: .any)
        t.add(0x6C, "INSB")
        t.add(0x6D, "INSW/INSD")
        t.add(0x6E, "OUTSB")
        t.add(0x6F, "OUTSW/OUTSD")
        let conditions = ["O", "NO", "B", "AE", "E", "NE", "BE", "A", "S", "NS", "P", "NP", "L", "GE", "LE", "G"]
        for (index, condition) in conditions.enumerated() { t.add(0x70 + UInt8(index), "J\(condition) Jb") }
        for (opcode, operands, modes) in [(UInt8(0x80), "Eb,Ib", CPUModes.all), (0x81, "Ev,Iz", .all),
                                          (0x82, "Eb,Ib", .legacy), (0x83, "Ev,Ib", .all)] {
            for (reg, name) in alu.enumerated() {
                t.add(opcode, name + " " + operands, form: .any, group: UInt8(reg), modes: modes, lock: reg != 7)
            }
        }
        t.reserved(0x82, form: .any, modes: .long64, "(group 1 alias; #UD in 64-bit mode)")
        t.add(0x84, "TEST Eb,Gb", form: .any)
        t.add(0x85, "TEST Ev,Gv", form: .any)
        t.add(0x86, "XCHG Eb,Gb", form: .any, lock: true)
        t.add(0x87, "XCHG Ev,Gv", form: .any, lock: true)
        t.add(0x88, "MOV Eb,Gb", form: .any)
        t.add(0x89, "MOV Ev,Gv", form: .any)
        t.add(0x8A, "MOV Gb,Eb", form: .any)
        t.add(0x8B, "MOV Gv,Ev", form: .any)
        t.add(0x8C, "MOV Ev,Sw", form: .any)
        t.add(0x8D, "LEA Gv,M", form: .memoryOnly)
        t.add(0x8E, "MOV Sw,Ew", form: .any)
        t.add(0x8F, "POP Ev", form: .any, group: 0)
        for reg in UInt8(1)...7 { t.reserved(0x8F, form: .any, group: reg) }
        t.add(0x90, "NOP (XCHG rAX,rAX)")
        t.add(0x90, "PAUSE", prefix: .repe)
        for register in 1..<8 { t.add(0x90 + UInt8(register), "XCHG r\(register),rAX") }
        t.add(0x98, "CBW/CWDE/CDQE")
        t.add(0x99, "CWD/CDQ/CQO")
        t.add(0x9A, "CALL Ap (far)", modes: .legacy)
        t.add(0x9B, "FWAIT", .x87)
        t.add(0x9C, "PUSHF")
        t.add(0x9D, "POPF")
        t.add(0x9E, "SAHF")
        t.add(0x9F, "LAHF")
        t.add(0xA0, "MOV AL,Ob")
        t.add(0xA1, "MOV rAX,Ov")
        t.add(0xA2, "MOV Ob,AL")
        t.add(0xA3, "MOV Ov,rAX")
        t.add(0xA4, "MOVSB")
        t.add(0xA5, "MOVSW/D/Q")
        t.add(0xA6, "CMPSB")
        t.add(0xA7, "CMPSW/D/Q")
        t.add(0xA8, "TEST AL,Ib")
        t.add(0xA9, "TEST rAX,Iz")
        t.add(0xAA, "STOSB")
        t.add(0xAB, "STOSW/D/Q")
        t.add(0xAC, "LODSB")
        t.add(0xAD, "LODSW/D/Q")
        t.add(0xAE, "SCASB")
        t.add(0xAF, "SCASW/D/Q")
        for register in 0..<8 { t.add(0xB0 + UInt8(register), "MOV r\(register)b,Ib") }
        for register in 0..<8 { t.add(0xB8 + UInt8(register), "MOV r\(register),Iv") }
        let shifts = ["ROL", "ROR", "RCL", "RCR", "SHL", "SHR", "SAL (undocumented alias of SHL)", "SAR"]
        for (opcode, operands) in [(UInt8(0xC0), "Eb,Ib"), (0xC1, "Ev,Ib"), (0xD0, "Eb,1"), (0xD1, "Ev,1"),
                                   (0xD2, "Eb,CL"), (0xD3, "Ev,CL")] {
            for (reg, name) in shifts.enumerated() { t.add(opcode, name + " " + operands, form: .any, group: UInt8(reg)) }
        }
        t.add(0xC2, "RET Iw (near)")
        t.add(0xC3, "RET (near)")
        // Outside 64-bit mode C4/C5 are VEX where LES/LDS would have a register operand (SDM Vol. 2, 2.3.5).
        t.add(0xC4, "LES Gz,Mp", form: .memoryOnly, modes: .legacy)
        t.add(0xC4, "three-byte VEX prefix", .avx, modes: .long64)
        t.add(0xC4, "three-byte VEX prefix (in LES's register form)", .avx, form: .registerOnly, modes: .protected)
        t.add(0xC5, "LDS Gz,Mp", form: .memoryOnly, modes: .legacy)
        t.add(0xC5, "two-byte VEX prefix", .avx, modes: .long64)
        t.add(0xC5, "two-byte VEX prefix (in LDS's register form)", .avx, form: .registerOnly, modes: .protected)
        t.add(0xC6, "MOV Eb,Ib", form: .any, group: 0)
        t.add(0xC7, "MOV Ev,Iz", form: .any, group: 0)
        for opcode in [UInt8(0xC6), 0xC7] {
            for reg in UInt8(1)...6 { t.reserved(opcode, form: .any, group: reg) }
            t.reserved(opcode, form: .memoryOnly, group: 7)
        }
        t.add(0xC6, "XABORT Ib", .rtm, form: .fixed(0xF8))
        t.add(0xC7, "XBEGIN Jz", .rtm, form: .fixed(0xF8))
        t.add(0xC8, "ENTER Iw,Ib")
        t.add(0xC9, "LEAVE")
        t.add(0xCA, "RET Iw (far)")
        t.add(0xCB, "RET (far)")
        t.add(0xCC, "INT3")
        t.add(0xCD, "INT Ib")
        t.add(0xCE, "INTO", modes: .legacy)
        t.add(0xCF, "IRET/IRETD/IRETQ")
        t.add(0xD4, "AAM Ib", modes: .legacy)
        t.add(0xD5, "AAD Ib", modes: .legacy)
        t.add(0xD6, "SALC (undocumented)", modes: .legacy)
        t.add(0xD7, "XLAT")
        addX87(&t)
        t.add(0xE0, "LOOPNE Jb")
        t.add(0xE1, "LOOPE Jb")
        t.add(0xE2, "LOOP Jb")
        t.add(0xE3, "JrCXZ Jb")
        t.add(0xE4, "IN AL,Ib")
        t.add(0xE5, "IN eAX,Ib")
        t.add(0xE6, "OUT Ib,AL")
        t.add(0xE7, "OUT Ib,eAX")
        t.add(0xE8, "CALL Jz")
        t.add(0xE9, "JMP Jz")
        t.add(0xEA, "JMP Ap (far)", modes: .legacy)
        t.add(0xEB, "JMP Jb")
        t.add(0xEC, "IN AL,DX")
        t.add(0xED, "IN eAX,DX")
        t.add(0xEE, "OUT DX,AL")
        t.add(0xEF, "OUT DX,eAX")
        t.add(0xF0, "LOCK prefix", .prefix)
        t.add(0xF1, "INT1 (ICEBP)")
        t.add(0xF2, "REPNE prefix", .prefix)
        t.add(0xF3, "REP/REPE prefix", .prefix)
        t.add(0xF4, "HLT")
        t.add(0xF5, "CMC")
        let group3 = ["TEST %,I", "TEST %,I (undocumented alias)", "NOT %", "NEG %", "MUL %", "IMUL %", "DIV %",
                      "IDIV %"]
        for (opcode, operand) in [(UInt8(0xF6), "Eb"), (0xF7, "Ev")] {
            for (reg, pattern) in group3.enumerated() {
                let text = pattern.split(separator: "%", omittingEmptySubsequences: false).joined(separator: operand)
                t.add(opcode, reg < 2 ? text + (opcode == 0xF6 ? "b" : "z") : text, form: .any, group: UInt8(reg),
                      lock: reg == 2 || reg == 3)
            }
        }
        t.add(0xF8, "CLC")
        t.add(0xF9, "STC")
        t.add(0xFA, "CLI")
        t.add(0xFB, "STI")
        t.add(0xFC, "CLD")
        t.add(0xFD, "STD")
        t.add(0xFE, "INC Eb", form: .any, group: 0, lock: true)
        t.add(0xFE, "DEC Eb", form: .any, group: 1, lock: true)
        for reg in UInt8(2)...7 { t.reserved(0xFE, form: .any, group: reg) }
        t.add(0xFF, "INC Ev", form: .any, group: 0, lock: true)
        t.add(0xFF, "DEC Ev", form: .any, group: 1, lock: true)
        t.add(0xFF, "CALL Ev (near)", form: .any, group: 2)
        t.add(0xFF, "CALL Mp (far)", form: .memoryOnly, group: 3)
        t.add(0xFF, "JMP Ev (near)", form: .any, group: 4)
        t.add(0xFF, "JMP Mp (far)", form: .memoryOnly, group: 5)
        t.add(0xFF, "PUSH Ev", form: .any, group: 6)
        t.reserved(0xFF, form: .any, group: 7)
        return t.rows
    }()
}
