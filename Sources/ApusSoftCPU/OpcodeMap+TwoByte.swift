/// The two-byte (0F) opcode map (SDM Vol. 2 Tables ), with the 66/F3/F2 variants of the SSE rows.
/// Prefix variants the SDM leaves blank are not listed (their behaviour is not architectural).
extension OpcodeMap {
    static let twoByte: [OpcodeMapEntry] = {
        var t = OpcodeRows(.twoByte)
        let group6 = ["SLDT Ev", "STR Ev", "LLDT Ew", "LTR Ew", "VERR Ew", "VERW Ew"]
        for (reg, name) in group6.enumerated() {
            t.add(0x00, name, form: .any, group: UInt8(reg), modes: .protectedAndLong)
            t.reserved(0x00, form: .any, group: UInt8(reg), modes: .real, name + " (#UD in real-address mode)")
        }
        t.reserved(0x00, form: .any, group: 6)
        t.reserved(0x00, form: .any, group: 7)
        addGroup7(&t)
        t.add(0x02, "LAR Gv,Ew", form: .any, modes: .protectedAndLong)
        t.add(0x03, "LSL Gv,Ew", form: .any, modes: .protectedAndLong)
        t.reserved(0x02, form: .any, modes: .real, "LAR (#UD in real-address mode)")
        t.reserved(0x03, form: .any, modes: .real, "LSL (#UD in real-address mode)")
        t.reserved(0x04)
        // Intel: SYSCALL and SYSRET are #UD outside 64-bit mode (AMD allows them in legacy mode).
        t.add(0x05, "SYSCALL", .syscall, modes: .long64)
        t.reserved(0x05, modes: .legacy, "SYSCALL (#UD outside 64-bit mode on Intel)")
        t.add(0x06, "CLTS")
        t.add(0x07, "SYSRET", .syscall, modes: .long64)
        t.reserved(0x07, modes: .legacy, "SYSRET (#UD outside 64-bit mode on Intel)")
        t.add(0x08, "INVD")
        t.add(0x09, "WBINVD")
        t.reserved(0x0A)
        t.reserved(0x0B, "UD2")
        t.reserved(0x0C)
        t.add(0x0D, "PREFETCHW Ev", .prefetchw, form: .memoryOnly, group: 1)
        // The rest of 0F 0D are prefetch hints too (PREFETCH /0 on AMD, NOP-like aliases elsewhere): hardware with
        // PREFETCHW runs every ModRM form, and so does this CPU (refereed by the random-bytes group).
        for reg in [UInt8(0), 2, 3, 4, 5, 6, 7] {
            t.add(0x0D, "PREFETCH Ev (hint)", .prefetchw, form: .memoryOnly, group: reg)
        }
        t.add(0x0D, "PREFETCH Ev (hint, register form)", .prefetchw, form: .registerOnly)
        t.reserved(0x0E, "(FEMMS on AMD)")
        t.reserved(0x0F, "(3DNow! on AMD)")
        t.sse(0x10, [(.none, "MOVUPS Vps,Wps", .sse), (.operandSize, "MOVUPD Vpd,Wpd", .sse2),
                     (.repe, "MOVSS Vss,Wss", .sse), (.repne, "MOVSD Vsd,Wsd", .sse2)])
        t.sse(0x11, [(.none, "MOVUPS Wps,Vps", .sse), (.operandSize, "MOVUPD Wpd,Vpd", .sse2),
                     (.repe, "MOVSS Wss,Vss", .sse), (.repne, "MOVSD Wsd,Vsd", .sse2)])
        t.add(0x12, "MOVLPS Vq,Mq", .sse, form: .memoryOnly)
        t.add(0x12, "MOVHLPS Vq,Uq", .sse, form: .registerOnly)
        t.add(0x12, "MOVLPD Vq,Mq", .sse2, form: .memoryOnly, prefix: .operandSize)
        t.sse(0x12, [(.repe, "MOVSLDUP Vx,Wx", .sse3), (.repne, "MOVDDUP Vx,Wx", .sse3)])
        t.add(0x13, "MOVLPS Mq,Vq", .sse, form: .memoryOnly)
        t.add(0x13, "MOVLPD Mq,Vq", .sse2, form: .memoryOnly, prefix: .operandSize)
        t.sse(0x14, [(.none, "UNPCKLPS", .sse), (.operandSize, "UNPCKLPD", .sse2)])
        t.sse(0x15, [(.none, "UNPCKHPS", .sse), (.operandSize, "UNPCKHPD", .sse2)])
        t.add(0x16, "MOVHPS Vq,Mq", .sse, form: .memoryOnly)
        t.add(0x16, "MOVLHPS Vq,Uq", .sse, form: .registerOnly)
        t.add(0x16, "MOVHPD Vq,Mq", .sse2, form: .memoryOnly, prefix: .operandSize)
        t.add(0x16, "MOVSHDUP Vx,Wx", .sse3, form: .any, prefix: .repe)
        t.add(0x17, "MOVHPS Mq,Vq", .sse, form: .memoryOnly)
        t.add(0x17, "MOVHPD Mq,Vq", .sse2, form: .memoryOnly, prefix: .operandSize)
        for (reg, name) in ["PREFETCHNTA", "PREFETCHT0", "PREFETCHT1", "PREFETCHT2"].enumerated() {
            t.add(0x18, name + " Mb", .sse, form: .memoryOnly, group: UInt8(reg))
        }
        // 0F 18-1F not listed above are hint NOPs (reserved for future hints, executed as NOP Ev since the P6).
        for reg in UInt8(4)...7 { t.add(0x18, "NOP Ev (hint)", form: .memoryOnly, group: reg) }
        t.add(0x18, "NOP Ev (hint)", form: .registerOnly)
        for opcode in UInt8(0x19)...0x1E { t.add(opcode, "NOP Ev (hint)", form: .any) }
        t.add(0x1F, "NOP Ev", form: .any, group: 0)
        for reg in UInt8(1)...7 { t.add(0x1F, "NOP Ev (hint)", form: .any, group: reg) }
        t.add(0x20, "MOV Rd,Cd", form: .registerIgnoringMod)
        t.add(0x21, "MOV Rd,Dd", form: .registerIgnoringMod)
        t.add(0x22, "MOV Cd,Rd", form: .registerIgnoringMod)
        t.add(0x23, "MOV Dd,Rd", form: .registerIgnoringMod)
        for opcode in UInt8(0x24)...0x27 { t.reserved(opcode, form: .any) }
        t.sse(0x28, [(.none, "MOVAPS Vps,Wps", .sse), (.operandSize, "MOVAPD Vpd,Wpd", .sse2)])
        t.sse(0x29, [(.none, "MOVAPS Wps,Vps", .sse), (.operandSize, "MOVAPD Wpd,Vpd", .sse2)])
        t.sse(0x2A, [(.none, "CVTPI2PS Vps,Qpi", .sse), (.operandSize, "CVTPI2PD Vpd,Qpi", .sse2),
                     (.repe, "CVTSI2SS Vss,Ey", .sse), (.repne, "CVTSI2SD Vsd,Ey", .sse2)])
        t.add(0x2B, "MOVNTPS Mps,Vps", .sse, form: .memoryOnly)
        t.add(0x2B, "MOVNTPD Mpd,Vpd", .sse2, form: .memoryOnly, prefix: .operandSize)
        t.sse(0x2C, [(.none, "CVTTPS2PI", .sse), (.operandSize, "CVTTPD2PI", .sse2), (.repe, "CVTTSS2SI", .sse),
                     (.repne, "CVTTSD2SI", .sse2)])
        t.sse(0x2D, [(.none, "CVTPS2PI", .sse), (.operandSize, "CVTPD2PI", .sse2), (.repe, "CVTSS2SI", .sse),
                     (.repne, "CVTSD2SI", .sse2)])
        t.sse(0x2E, [(.none, "UCOMISS", .sse), (.operandSize, "UCOMISD", .sse2)])
        t.sse(0x2F, [(.none, "COMISS", .sse), (.operandSize, "COMISD", .sse2)])
        t.add(0x30, "WRMSR", .msr)
        t.add(0x31, "RDTSC", .tsc)
        t.add(0x32, "RDMSR", .msr)
        t.add(0x33, "RDPMC")
        t.add(0x34, "SYSENTER", .sep)
        t.add(0x35, "SYSEXIT", .sep)
        t.reserved(0x36)
        t.add(0x37, "GETSEC", .smx)
        t.add(0x38, "three-byte escape 0F 38", .prefix)
        t.reserved(0x39)
        t.add(0x3A, "three-byte escape 0F 3A", .prefix)
        for opcode in UInt8(0x3B)...0x3F { t.reserved(opcode) }
        let conditions = ["O", "NO", "B", "AE", "E", "NE", "BE", "A", "S", "NS", "P", "NP", "L", "GE", "LE", "G"]
        for (index, condition) in conditions.enumerated() {
            t.add(0x40 + UInt8(index), "CMOV\(condition) Gv,Ev", .cmov, form: .any)
        }
        t.add(0x50, "MOVMSKPS Gd,Ups", .sse, form: .registerOnly)
        t.add(0x50, "MOVMSKPD Gd,Upd", .sse2, form: .registerOnly, prefix: .operandSize)
        for (opcode, name) in [(UInt8(0x51), "SQRT"), (0x58, "ADD"), (0x59, "MUL"), (0x5C, "SUB"), (0x5D, "MIN"),
                               (0x5E, "DIV"), (0x5F, "MAX")] {
            t.sse(opcode, [(.none, name + "PS", .sse), (.operandSize, name + "PD", .sse2), (.repe, name + "SS", .sse),
                           (.repne, name + "SD", .sse2)])
        }
        t.sse(0x52, [(.none, "RSQRTPS", .sse), (.repe, "RSQRTSS", .sse)])
        t.sse(0x53, [(.none, "RCPPS", .sse), (.repe, "RCPSS", .sse)])
        for (opcode, name) in [(UInt8(0x54), "AND"), (0x55, "ANDN"), (0x56, "OR"), (0x57, "XOR")] {
            t.sse(opcode, [(.none, name + "PS", .sse), (.operandSize, name + "PD", .sse2)])
        }
        t.sse(0x5A, [(.none, "CVTPS2PD", .sse2), (.operandSize, "CVTPD2PS", .sse2), (.repe, "CVTSS2SD", .sse2),
                     (.repne, "CVTSD2SS", .sse2)])
        t.sse(0x5B, [(.none, "CVTDQ2PS", .sse2), (.operandSize, "CVTPS2DQ", .sse2), (.repe, "CVTTPS2DQ", .sse2)])
        let packedRows: [(UInt8, String, InstructionFeature)] = [
            (0x60, "PUNPCKLBW", .mmx), (0x61, "PUNPCKLWD", .mmx), (0x62, "PUNPCKLDQ", .mmx), (0x63, "PACKSSWB", .mmx),
            (0x64, "PCMPGTB", .mmx), (0x65, "PCMPGTW", .mmx), (0x66, "PCMPGTD", .mmx), (0x67, "PACKUSWB", .mmx),
            (0x68, "PUNPCKHBW", .mmx), (0x69, "PUNPCKHWD", .mmx), (0x6A, "PUNPCKHDQ", .mmx), (0x6B, "PACKSSDW", .mmx),
            (0x74, "PCMPEQB", .mmx), (0x75, "PCMPEQW", .mmx), (0x76, "PCMPEQD", .mmx),
            (0xD1, "PSRLW", .mmx), (0xD2, "PSRLD", .mmx), (0xD3, "PSRLQ", .mmx), (0xD4, "PADDQ", .sse2),
            (0xD5, "PMULLW", .mmx), (0xD8, "PSUBUSB", .mmx), (0xD9, "PSUBUSW", .mmx), (0xDA, "PMINUB", .sse),
            (0xDB, "PAND", .mmx), (0xDC, "PADDUSB", .mmx), (0xDD, "PADDUSW", .mmx), (0xDE, "PMAXUB", .sse),
            (0xDF, "PANDN", .mmx), (0xE0, "PAVGB", .sse), (0xE1, "PSRAW", .mmx), (0xE2, "PSRAD", .mmx),
            (0xE3, "PAVGW", .sse), (0xE4, "PMULHUW", .sse), (0xE5, "PMULHW", .mmx), (0xE8, "PSUBSB", .mmx),
            (0xE9, "PSUBSW", .mmx), (0xEA, "PMINSW", .sse), (0xEB, "POR", .mmx), (0xEC, "PADDSB", .mmx),
            (0xED, "PADDSW", .mmx), (0xEE, "PMAXSW", .sse), (0xEF, "PXOR", .mmx), (0xF1, "PSLLW", .mmx),
            (0xF2, "PSLLD", .mmx), (0xF3, "PSLLQ", .mmx), (0xF4, "PMULUDQ", .sse2), (0xF5, "PMADDWD", .mmx),
            (0xF6, "PSADBW", .sse), (0xF8, "PSUBB", .mmx), (0xF9, "PSUBW", .mmx), (0xFA, "PSUBD", .mmx),
            (0xFB, "PSUBQ", .sse2), (0xFC, "PADDB", .mmx), (0xFD, "PADDW", .mmx), (0xFE, "PADDD", .mmx),
        ]
        for (opcode, name, feature) in packedRows { t.mmx(opcode, name, feature) }
        t.add(0x6C, "PUNPCKLQDQ", .sse2, form: .any, prefix: .operandSize)
        t.add(0x6D, "PUNPCKHQDQ", .sse2, form: .any, prefix: .operandSize)
        t.sse(0x6E, [(.none, "MOVD/Q Pq,Ey", .mmx), (.operandSize, "MOVD/Q Vy,Ey", .sse2)])
        t.sse(0x6F, [(.none, "MOVQ Pq,Qq", .mmx), (.operandSize, "MOVDQA Vx,Wx", .sse2), (.repe, "MOVDQU Vx,Wx", .sse2)])
        t.sse(0x70, [(.none, "PSHUFW Pq,Qq,Ib", .sse), (.operandSize, "PSHUFD", .sse2), (.repe, "PSHUFHW", .sse2),
                     (.repne, "PSHUFLW", .sse2)])
        for (opcode, names) in [(UInt8(0x71), [2: "PSRLW", 4: "PSRAW", 6: "PSLLW"]),
                                (0x72, [2: "PSRLD", 4: "PSRAD", 6: "PSLLD"]), (0x73, [2: "PSRLQ", 6: "PSLLQ"])] {
            for reg in UInt8(0)..<8 {
                if let name = names[Int(reg)] {
                    t.mmx(opcode, name + " Ib", form: .registerOnly, group: reg)
                } else if opcode == 0x73 && (reg == 3 || reg == 7) {
                    t.add(opcode, (reg == 3 ? "PSRLDQ" : "PSLLDQ") + " Ux,Ib", .sse2, form: .registerOnly, group: reg,
                          prefix: .operandSize)
                    t.reserved(opcode, form: .registerOnly, group: reg)
                } else {
                    t.reserved(opcode, form: .registerOnly, group: reg)
                }
            }
            t.reserved(opcode, form: .memoryOnly, group: 2)
        }
        t.add(0x77, "EMMS", .mmx)
        t.add(0x78, "VMREAD Ey,Gy", .vmx, form: .any)
        t.add(0x79, "VMWRITE Gy,Ey", .vmx, form: .any)
        t.reserved(0x7A, form: .any)
        t.reserved(0x7B, form: .any)
        t.sse(0x7C, [(.operandSize, "HADDPD", .sse3), (.repne, "HADDPS", .sse3)])
        t.sse(0x7D, [(.operandSize, "HSUBPD", .sse3), (.repne, "HSUBPS", .sse3)])
        t.sse(0x7E, [(.none, "MOVD/Q Ey,Pq", .mmx), (.operandSize, "MOVD/Q Ey,Vy", .sse2), (.repe, "MOVQ Vq,Wq", .sse2)])
        t.sse(0x7F, [(.none, "MOVQ Qq,Pq", .mmx), (.operandSize, "MOVDQA Wx,Vx", .sse2), (.repe, "MOVDQU Wx,Vx", .sse2)])
        for (index, condition) in conditions.enumerated() { t.add(0x80 + UInt8(index), "J\(condition) Jz") }
        for (index, condition) in conditions.enumerated() { t.add(0x90 + UInt8(index), "SET\(condition) Eb", form: .any) }
        t.add(0xA0, "PUSH FS")
        t.add(0xA1, "POP FS")
        t.add(0xA2, "CPUID")
        t.add(0xA3, "BT Ev,Gv", form: .any)
        t.add(0xA4, "SHLD Ev,Gv,Ib", form: .any)
        t.add(0xA5, "SHLD Ev,Gv,CL", form: .any)
        t.reserved(0xA6, form: .any)
        t.reserved(0xA7, form: .any)
        t.add(0xA8, "PUSH GS")
        t.add(0xA9, "POP GS")
        t.reserved(0xAA, "RSM (#UD outside SMM)")
        t.add(0xAB, "BTS Ev,Gv", form: .any, lock: true)
        t.add(0xAC, "SHRD Ev,Gv,Ib", form: .any)
        t.add(0xAD, "SHRD Ev,Gv,CL", form: .any)
        addGroup15(&t)
        t.add(0xAF, "IMUL Gv,Ev", form: .any)
        t.add(0xB0, "CMPXCHG Eb,Gb", form: .any, lock: true)
        t.add(0xB1, "CMPXCHG Ev,Gv", form: .any, lock: true)
        t.add(0xB2, "LSS Gv,Mp", form: .memoryOnly)
        t.add(0xB3, "BTR Ev,Gv", form: .any, lock: true)
        t.add(0xB4, "LFS Gv,Mp", form: .memoryOnly)
        t.add(0xB5, "LGS Gv,Mp", form: .memoryOnly)
        t.add(0xB6, "MOVZX Gv,Eb", form: .any)
        t.add(0xB7, "MOVZX Gv,Ew", form: .any)
        t.reserved(0xB8, form: .any, "(JMPE on Itanium)")
        t.add(0xB8, "POPCNT Gv,Ev", .popcnt, form: .any, prefix: .repe)
        t.reserved(0xB9, form: .any, "UD1 Gv,Ev")
        for (reg, name) in [(4, "BT"), (5, "BTS"), (6, "BTR"), (7, "BTC")] {
            t.add(0xBA, name + " Ev,Ib", form: .any, group: UInt8(reg), lock: reg != 4)
        }
        for reg in UInt8(0)..<4 { t.reserved(0xBA, form: .any, group: reg) }
        t.add(0xBB, "BTC Ev,Gv", form: .any, lock: true)
        t.add(0xBC, "BSF Gv,Ev", form: .any)
        t.add(0xBC, "TZCNT Gv,Ev", .bmi1, form: .any, prefix: .repe)
        t.add(0xBD, "BSR Gv,Ev", form: .any)
        t.add(0xBD, "LZCNT Gv,Ev", .lzcnt, form: .any, prefix: .repe)
        t.add(0xBE, "MOVSX Gv,Eb", form: .any)
        t.add(0xBF, "MOVSX Gv,Ew", form: .any)
        t.add(0xC0, "XADD Eb,Gb", form: .any, lock: true)
        t.add(0xC1, "XADD Ev,Gv", form: .any, lock: true)
        t.sse(0xC2, [(.none, "CMPPS Vps,Wps,Ib", .sse), (.operandSize, "CMPPD", .sse2), (.repe, "CMPSS", .sse),
                     (.repne, "CMPSD", .sse2)])
        t.add(0xC3, "MOVNTI My,Gy", .sse2, form: .memoryOnly)
        t.sse(0xC4, [(.none, "PINSRW Pq,Ry/Mw,Ib", .sse), (.operandSize, "PINSRW Vdq,Ry/Mw,Ib", .sse2)])
        t.sse(0xC5, form: .registerOnly, [(.none, "PEXTRW Gd,Nq,Ib", .sse), (.operandSize, "PEXTRW Gd,Udq,Ib", .sse2)])
        t.sse(0xC6, [(.none, "SHUFPS", .sse), (.operandSize, "SHUFPD", .sse2)])
        addGroup9(&t)
        for register in 0..<8 { t.add(0xC8 + UInt8(register), "BSWAP r\(register)") }
        t.sse(0xD0, [(.operandSize, "ADDSUBPD", .sse3), (.repne, "ADDSUBPS", .sse3)])
        t.add(0xD6, "MOVQ Wq,Vq", .sse2, form: .any, prefix: .operandSize)
        t.add(0xD6, "MOVQ2DQ Vdq,Nq", .sse2, form: .registerOnly, prefix: .repe)
        t.add(0xD6, "MOVDQ2Q Pq,Uq", .sse2, form: .registerOnly, prefix: .repne)
        t.sse(0xD7, form: .registerOnly, [(.none, "PMOVMSKB Gd,Nq", .sse), (.operandSize, "PMOVMSKB Gd,Ux", .sse2)])
        t.sse(0xE6, [(.operandSize, "CVTTPD2DQ", .sse2), (.repe, "CVTDQ2PD", .sse2), (.repne, "CVTPD2DQ", .sse2)])
        t.add(0xE7, "MOVNTQ Mq,Pq", .sse, form: .memoryOnly)
        t.add(0xE7, "MOVNTDQ Mx,Vx", .sse2, form: .memoryOnly, prefix: .operandSize)
        t.add(0xF0, "LDDQU Vx,Mx", .sse3, form: .memoryOnly, prefix: .repne)
        t.sse(0xF7, form: .registerOnly, [(.none, "MASKMOVQ Pq,Nq", .sse), (.operandSize, "MASKMOVDQU Vdq,Udq", .sse2)])
        t.reserved(0xFF, form: .any, "UD0 Gd,Ed")
        return t.rows
    }()

    private static func addGroup7(_ t: inout OpcodeRows) {
        let memory = ["SGDT Ms", "SIDT Ms", "LGDT Ms", "LIDT Ms", "SMSW Mw", nil, "LMSW Ew", "INVLPG Mb"]
        for (reg, name) in memory.enumerated() {
            if let name { t.add(0x01, name, form: .memoryOnly, group: UInt8(reg)) } else {
                t.reserved(0x01, form: .memoryOnly, group: UInt8(reg))
            }
        }
        let registers: [UInt8: (String, InstructionFeature, CPUModes)] = [
            0xC1: ("VMCALL", .vmx, .all), 0xC2: ("VMLAUNCH", .vmx, .all), 0xC3: ("VMRESUME", .vmx, .all),
            0xC4: ("VMXOFF", .vmx, .all), 0xC8: ("MONITOR", .monitor, .all), 0xC9: ("MWAIT", .monitor, .all),
            0xCA: ("CLAC", .smap, .all), 0xCB: ("STAC", .smap, .all), 0xD0: ("XGETBV", .xsave, .all),
            0xD1: ("XSETBV", .xsave, .all), 0xD5: ("XEND", .rtm, .all), 0xD6: ("XTEST", .rtm, .all),
            0xEE: ("RDPKRU", .pku, .all), 0xEF: ("WRPKRU", .pku, .all), 0xF8: ("SWAPGS", .base, .long64),
            0xF9: ("RDTSCP", .rdtscp, .all),
        ]
        for modrm in UInt8(0xC0)...0xFF {
            let reg = (modrm >> 3) & 7
            if reg == 4 { t.add(0x01, "SMSW Rv", form: .fixed(modrm), group: reg); continue }
            if reg == 6 { t.add(0x01, "LMSW Rw", form: .fixed(modrm), group: reg); continue }
            if let row = registers[modrm] {
                let (name, feature, modes) = row
                t.add(0x01, name, feature, form: .fixed(modrm), group: reg, modes: modes)
                if modes == .long64 { t.reserved(0x01, form: .fixed(modrm), group: reg, modes: .legacy, name + " (#UD outside 64-bit mode)") }
            } else {
                t.reserved(0x01, form: .fixed(modrm), group: reg)
            }
        }
    }

    private static func addGroup15(_ t: inout OpcodeRows) {
        let memory: [(String, InstructionFeature)] = [
            ("FXSAVE", .fxsr), ("FXRSTOR", .fxsr), ("LDMXCSR", .sse), ("STMXCSR", .sse), ("XSAVE", .xsave),
            ("XRSTOR", .xsave), ("XSAVEOPT", .xsaveopt), ("CLFLUSH", .clflush),
        ]
        for (reg, (name, feature)) in memory.enumerated() {
            t.add(0xAE, name + " M", feature, form: .memoryOnly, group: UInt8(reg))
        }
        t.add(0xAE, "CLWB Mb", .clwb, form: .memoryOnly, group: 6, prefix: .operandSize)
        t.add(0xAE, "CLFLUSHOPT Mb", .clflushopt, form: .memoryOnly, group: 7, prefix: .operandSize)
        for reg in UInt8(0)..<5 { t.reserved(0xAE, form: .registerOnly, group: reg) }
        t.add(0xAE, "LFENCE", .sse2, form: .registerGroup(0xE8), group: 5)
        t.add(0xAE, "MFENCE", .sse2, form: .registerGroup(0xF0), group: 6)
        t.add(0xAE, "SFENCE", .sse, form: .registerGroup(0xF8), group: 7)
        for (reg, name) in ["RDFSBASE Ry", "RDGSBASE Ry", "WRFSBASE Ry", "WRGSBASE Ry"].enumerated() {
            t.add(0xAE, name, .fsgsbase, form: .registerOnly, group: UInt8(reg), prefix: .repe, modes: .long64)
        }
    }

    private static func addGroup9(_ t: inout OpcodeRows) {
        t.reserved(0xC7, form: .memoryOnly, group: 0)
        t.add(0xC7, "CMPXCHG8B Mq (CMPXCHG16B with REX.W)", .cx8, form: .memoryOnly, group: 1, lock: true)
        t.reserved(0xC7, form: .memoryOnly, group: 2)
        t.add(0xC7, "XRSTORS M", .xsaves, form: .memoryOnly, group: 3)
        t.add(0xC7, "XSAVEC M", .xsaves, form: .memoryOnly, group: 4)
        t.add(0xC7, "XSAVES M", .xsaves, form: .memoryOnly, group: 5)
        t.add(0xC7, "VMPTRLD Mq", .vmx, form: .memoryOnly, group: 6)
        t.add(0xC7, "VMCLEAR Mq", .vmx, form: .memoryOnly, group: 6, prefix: .operandSize)
        t.add(0xC7, "VMXON Mq", .vmx, form: .memoryOnly, group: 6, prefix: .repe)
        t.add(0xC7, "VMPTRST Mq", .vmx, form: .memoryOnly, group: 7)
        for reg in UInt8(0)..<6 { t.reserved(0xC7, form: .registerOnly, group: reg) }
        t.add(0xC7, "RDRAND Rv", .rdrand, form: .registerOnly, group: 6)
        t.add(0xC7, "RDSEED Rv", .rdseed, form: .registerOnly, group: 7)
        t.add(0xC7, "RDPID Ry", .rdpid, form: .registerOnly, group: 7, prefix: .repe)
    }
}
