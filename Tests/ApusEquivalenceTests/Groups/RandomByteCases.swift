import ApusCore
import ApusSoftCPU
import ApusTesting

/// Random instruction bytes at CPL3: up to three legacy prefixes, sometimes a REX prefix, an opcode of the one-byte
/// or 0F map, then random ModRM, SIB, displacement and immediate bytes, with some base registers pointing into the
/// data pages so memory forms reach mapped memory. Whatever the bytes decode to (an instruction, #UD, #GP, #PF) must
/// end the same way on both CPUs.
///
/// Left out, because this host's KVM runs ring 3 natively on the host CPU, so its answer is the host's and not the
/// model's (CPUID does not gate what hardware executes): VEX/EVEX (C4, C5, 62), the 0F 38 and 0F 3A maps
/// (SSSE3 aside), and SSE3, SSSE3 and POPCNT while the model does not advertise them, SSE4a and LZCNT/TZCNT encodings, RDRAND/RDSEED/RDPID and the XSAVE family (0F C7 other than /1, 0F AE
/// other than FXSAVE/FXRSTOR/LDMXCSR/STMXCSR, CLFLUSH and the fences), group 7 (0F 01: SGDT, SMSW, XGETBV, RDTSCP...), LAR, LSL,
/// SLDT and STR (0F 00, 02, 03), RDTSC, RDPMC, CPUID and SYSENTER/SYSEXIT (host-vendor dependent); anything that
/// reads or loads selectors or the GDT (MOV Sreg, PUSH/POP FS/GS, LSS/LFS/LGS, far RET/IRET and far CALL/JMP through
/// memory); POPF (the host clears NT under it, see FlagCases); INT n and SYSCALL (this host's KVM answers INT n with
/// #UD and leaves SYSCALL in ring 3 here; the exceptions and control groups cover them); CMPS (which operand faults
/// first differs between implementations); 66h on near branches (16-bit on AMD, ignored by Intel);
/// LOCK on hint NOPs and prefixed MOVNTI, register forms of MOVNTQ/MOVNTDQ (vendors differ); FXSAVE (which byte
/// faults first differs), FXRSTOR and LDMXCSR (their #GP for reserved MXCSR bits goes to KVM's emulator, which
/// answers #UD; the SSE groups cover them); MASKMOVQ and MASKMOVDQU (every case here starts with zeroed MMX/XMM
/// registers, so an all-zero mask, and whether that still faults on an unmapped target is left to the implementation by
/// the SDM: this AMD host faults, the model does not; SSEMMXCases covers real masks). Undefined by the SDM, so left
/// out: LOOPE/LOOPNE under F2/F3 (a repeat prefix on a non-string instruction is reserved; this host lets the prefix
/// pick the condition) and 16-bit SHLD/SHRD counts of 17-31 (the immediate is cut to 0-16). Not host-dependent but
/// excluded so no case can loop
/// forever on KVM (the runner cannot stop one): backward near branches and indirect near branches.
struct RandomByteCases {
    var rng: SplitMix64

    static let prefixes: [UInt8] = [0x66, 0x67, 0xF2, 0xF3, 0xF0, 0x2E, 0x3E, 0x26, 0x36, 0x64, 0x65]

    mutating func next() -> UserCase {
        while true {
            var code: [UInt8] = []
            for _ in 0..<rng.below(4) { code.append(rng.pick(Self.prefixes)) }
            let rex: UInt8? = rng.chance(40) ? UInt8(0x40 + rng.below(16)) : nil
            if let rex { code.append(rex) }
            let twoByte = rng.chance(35)
            let opcode = UInt8(truncatingIfNeeded: rng.next())
            let tail = (0..<12).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            guard let undefined = Self.classify(prefixes: code, twoByte: twoByte, opcode: opcode, tail: tail) else { continue }
            return Self.makeCase(group: "random-bytes", description: "random bytes", prefixes: code, twoByte: twoByte,
                                 opcode: opcode, tail: tail, undefinedFlags: undefined, rng: &rng)
        }
    }

    /// One instruction from its prefixes, opcode and 12 random trailing bytes, made safe to compare (see below), with
    /// registers that make memory forms reach mapped memory, and the x87/SSE reset state.
    static func makeCase(group: String, description: String, prefixes: [UInt8], twoByte: Bool, opcode: UInt8,
                         tail: [UInt8], undefinedFlags: UInt64, rng: inout SplitMix64) -> UserCase {
        var tail = tail
        // MOV moffs64: a canonical offset (see `canonical`).
        if !twoByte && (0xA0...0xA3).contains(opcode) { tail[6] = 0; tail[7] = 0 }
        var code = prefixes + (twoByte ? [0x0F, opcode] : [opcode]) + tail
        // Exactly one instruction, then the runner's HLT padding.
        let layout = InstructionLength.of(code)
        code = Array(code.prefix(layout.length))
        // A 16-bit SHLD/SHRD count above 16 leaves the result undefined (SDM): keep the immediate within 0-16.
        if twoByte && (opcode == 0xA4 || opcode == 0xAC) && code.prefix(while: Self.prefixes.contains).contains(0x66),
           let count = code.last, count & 0x1F > 16 {
            code[code.count - 1] = count & 0x0F
        }
        // Every memory operand 16-byte aligned: a misaligned SSE operand is #GP, which this host's KVM hands to
        // its instruction emulator, and that answers #UD for the SSE forms it lacks.
        if layout.displacementSize > 0 {
            var displacement = code[layout.displacementAt] & 0xF0
            if layout.ripRelative { displacement = displacement &- UInt8(truncatingIfNeeded: layout.length) }
            code[layout.displacementAt] = displacement
        }
        var registers = rng.registers()
        for index in 0..<16 where index != 4 { registers[index] = Self.canonical(registers[index]) & ~0xF }
        for index in [3, 5, 6, 7, 8, 13] where rng.chance(50) {
            registers[index] = UserModeLayout.data + UInt64(rng.below(0x2000)) & ~0xF
        }
        var userCase = UserCase(group: group, code: code, description: description, registers: registers,
                                undefinedFlags: undefinedFlags)
        let reg = tail[0] >> 3 & 7, memoryForm = tail[0] >> 6 != 3
        userCase.blockOperand = memoryForm && (twoByte ? opcode == 0xAE && reg <= 1
                                                        : (opcode == 0xD9 || opcode == 0xDD) && (reg == 4 || reg == 6))
        // x87/SSE forms start from the reset state, not from the last case's, with random XMM registers: results
        // that reach general registers, flags or memory from them (PTEST, PEXTR*, PCMPxSTRI...) are then refereed.
        var fpu = FPUState()
        for index in 0..<16 { fpu.setXMM(index, low: rng.next(), high: rng.next()) }
        userCase.fpu = fpu
        return userCase
    }

    /// Register values within 2^43 of zero (sign-extended from bit 43): base + index x 8 + disp32 is then always
    /// canonical. A non-canonical operand is #GP, which this host's KVM hands to its instruction emulator, and that
    /// answers #UD for the x87, MMX and SSE forms it lacks instead of the #GP hardware raises.
    static func canonical(_ value: UInt64) -> UInt64 { signExtend44(value & 0xFFF_FFFF_FFFF) }

    private static func signExtend44(_ value: UInt64) -> UInt64 {
        value & (1 << 43) != 0 ? value | ~0xFFF_FFFF_FFFF : value
    }

    /// nil when the instruction is left out; otherwise the flags the SDM leaves undefined after it.
    /// Features the model advertises: their instructions then behave as on the host, so KVM referees them.
    static let sse3 = CPUModel.default.advertises(.sse3), popcnt = CPUModel.default.advertises(.popcnt)
    static let ssse3 = CPUModel.default.advertises(.ssse3), sse42 = CPUModel.default.advertises(.sse42)
    static let lzcnt = CPUModel.default.advertises(.lzcnt), bmi1 = CPUModel.default.advertises(.bmi1)
    /// 0F 38 / 0F 3A opcodes (map << 8 | opcode) with an entry of an advertised feature, no F2/F3 prefix.
    static let advertisedThreeByte: Set<Int> = Set(OpcodeMap.entries.filter {
        ($0.map == .threeByte38 || $0.map == .threeByte3A) && $0.isInstruction && $0.prefix != .repne
            && $0.prefix != .repe && CPUModel.default.advertises($0.feature)
    }.map { $0.map.rawValue << 8 | Int($0.opcode) })

    static func classify(prefixes: [UInt8], twoByte: Bool, opcode: UInt8, tail: [UInt8]) -> UInt64? {
        let reg = Int(tail[0] >> 3) & 7, mod = tail[0] >> 6
        let anyMandatory = prefixes.contains { $0 == 0x66 || $0 == 0xF2 || $0 == 0xF3 }
        let repeatPrefix = prefixes.contains(0xF2) || prefixes.contains(0xF3)
        let operandSize16 = prefixes.contains(0x66), locked = prefixes.contains(0xF0)
        let all: UInt64 = 0x8D5, af: UInt64 = 0x10, of: UInt64 = 0x800
        if twoByte {
            switch opcode {
            // The three-byte maps: the entries of an advertised feature (tail[0] is the third opcode byte), without
            // F2/F3, except F2 0F 38 F0/F1, SSE4.2's CRC32. The others (MOVBE, ADCX/ADOX, AES, SHA...) the host runs.
            case 0x38, 0x3A:
                if opcode == 0x38 && (tail[0] == 0xF0 || tail[0] == 0xF1) && prefixes.contains(0xF2) {
                    return sse42 && !prefixes.contains(0xF3) ? 0 : nil
                }
                let map: OpcodeMapID = opcode == 0x38 ? .threeByte38 : .threeByte3A
                return !repeatPrefix && advertisedThreeByte.contains(map.rawValue << 8 | Int(tail[0])) ? 0 : nil
            case 0x00, 0x01, 0x02, 0x03, 0x05, 0x07, 0x31, 0x33, 0x34, 0x35, 0x78, 0x79, 0xA0, 0xA1, 0xA2,
                 0xA8, 0xA9, 0xB2, 0xB4, 0xB5:
                return nil
            case 0x7C, 0x7D, 0xD0: return anyMandatory && !sse3 ? nil : 0         // SSE3 with a mandatory prefix
            case 0xF0: return prefixes.contains(0xF2) && !sse3 ? nil : 0           // LDDQU (F2 outranks 66)
            case 0x12, 0x16: return repeatPrefix && !sse3 ? nil : 0                // MOVSLDUP, MOVSHDUP, MOVDDUP
            case 0x2B, 0xC3: return anyMandatory ? nil : 0                         // MOVNTSS/SD (SSE4a); MOVNTI "NP"
            // POPCNT; with both F2 and F3 which one counts is left open by the SDM.
            case 0xB8: return prefixes.contains(0xF3) && (!popcnt || prefixes.contains(0xF2)) ? nil : 0
            case 0x18...0x1F: return locked ? nil : 0                              // LOCK on a hint NOP: vendors differ
            case 0xC7: return reg == 1 ? 0 : nil
            case 0xAE: return anyMandatory || locked || (mod == 3 ? reg < 5 : reg != 3 && reg != 7) ? nil : 0   // STMXCSR, CLFLUSH, fences
            case 0xE7: return mod == 3 ? nil : 0                                   // MOVNTQ/MOVNTDQ register forms
            case 0xF7: return nil                                                  // MASKMOVQ/MASKMOVDQU, zero mask
            case 0x80...0x8F: return tail[3] & 0x80 != 0 || operandSize16 ? nil : 0   // backward; rel16 on AMD
            case 0xA3, 0xAB, 0xB3, 0xBB, 0xBA: return all & ~1                     // BT*: only CF is defined
            case 0xA4, 0xA5, 0xAC, 0xAD: return af | of                            // SHLD/SHRD
            case 0xAF: return all & ~(1 | of)                                      // IMUL: CF and OF defined
            case 0xBC, 0xBD:   // TZCNT/LZCNT when advertised (only CF and ZF defined); BSF/BSR: only ZF
                guard prefixes.contains(0xF3) else { return all & ~0x40 }
                let advertised = opcode == 0xBC ? bmi1 : lzcnt
                return advertised && !prefixes.contains(0xF2) ? all & ~0x41 : nil
            default: return 0
            }
        }
        switch opcode {
        case 0x0F, 0x26, 0x2E, 0x36, 0x3E, 0x40...0x4F, 0x64...0x67, 0xF0, 0xF2, 0xF3: return nil   // not opcodes
        case 0x62, 0xC4, 0xC5, 0x8C, 0x8E, 0x9D, 0xCA, 0xCB, 0xCF, 0xCD, 0xA6, 0xA7: return nil
        case 0xE0 where repeatPrefix, 0xE1 where repeatPrefix: return nil                               // reserved: REP + LOOPcc
        case 0x70...0x7F, 0xE0...0xE3, 0xEB: return tail[0] & 0x80 != 0 || operandSize16 ? nil : 0   // backward
        case 0xE8, 0xE9: return tail[3] & 0x80 != 0 || operandSize16 ? nil : 0
        case 0xC2, 0xC3: return operandSize16 ? nil : 0
        case 0xFF: return (2...5).contains(reg) ? nil : 0                                 // indirect and far
        case 0xDB, 0xDD, 0xDF: return reg == 1 && mod != 3 && !sse3 ? nil : 0             // FISTTP (SSE3)
        case 0x20...0x23, 0x08...0x0B, 0x30...0x33, 0x24, 0x25, 0x0C, 0x0D, 0x34, 0x35, 0x84, 0x85, 0xA8, 0xA9:
            return af                                                                      // AND/OR/XOR/TEST
        case 0x80, 0x81, 0x83: return reg == 1 || reg == 4 || reg == 6 ? af : 0
        case 0xC0, 0xC1, 0xD0...0xD3: return af | of                                       // shifts and rotates
        case 0xF6, 0xF7: return reg < 2 ? af : (reg < 4 ? 0 : (reg >= 6 ? all : all & ~(1 | of)))
        case 0x69, 0x6B: return all & ~(1 | of)
        default: return 0
        }
    }
}
