/// The three-byte maps 0F 38 and 0F 3A (SDM Vol. 2 Tables ), legacy (non-VEX) encodings only: the VEX-only
/// rows (AVX, BMI1, BMI2, FMA) are reached through the C4/C5 prefixes of the one-byte map. Opcodes not listed are
/// reserved (#UD).
extension OpcodeMap {
    static let threeByte38: [OpcodeMapEntry] = {
        var t = OpcodeRows(.threeByte38)
        let ssse3 = ["PSHUFB", "PHADDW", "PHADDD", "PHADDSW", "PMADDUBSW", "PHSUBW", "PHSUBD", "PHSUBSW",
                     "PSIGNB", "PSIGNW", "PSIGND", "PMULHRSW"]
        for (index, name) in ssse3.enumerated() {
            t.sse(UInt8(index), [(.none, name + " Pq,Qq", .ssse3), (.operandSize, name + " Vx,Wx", .ssse3)])
        }
        for (opcode, name) in [(UInt8(0x1C), "PABSB"), (0x1D, "PABSW"), (0x1E, "PABSD")] {
            t.sse(opcode, [(.none, name + " Pq,Qq", .ssse3), (.operandSize, name + " Vx,Wx", .ssse3)])
        }
        let sse41: [UInt8: String] = [
            0x10: "PBLENDVB", 0x14: "BLENDVPS", 0x15: "BLENDVPD", 0x17: "PTEST", 0x20: "PMOVSXBW", 0x21: "PMOVSXBD",
            0x22: "PMOVSXBQ", 0x23: "PMOVSXWD", 0x24: "PMOVSXWQ", 0x25: "PMOVSXDQ", 0x28: "PMULDQ", 0x29: "PCMPEQQ",
            0x2B: "PACKUSDW", 0x30: "PMOVZXBW", 0x31: "PMOVZXBD", 0x32: "PMOVZXBQ", 0x33: "PMOVZXWD",
            0x34: "PMOVZXWQ", 0x35: "PMOVZXDQ", 0x38: "PMINSB", 0x39: "PMINSD", 0x3A: "PMINUW", 0x3B: "PMINUD",
            0x3C: "PMAXSB", 0x3D: "PMAXSD", 0x3E: "PMAXUW", 0x3F: "PMAXUD", 0x40: "PMULLD", 0x41: "PHMINPOSUW",
        ]
        let aes: [UInt8: String] = [0xDB: "AESIMC", 0xDC: "AESENC", 0xDD: "AESENCLAST", 0xDE: "AESDEC",
                                    0xDF: "AESDECLAST"]
        let sha: [UInt8: String] = [0xC8: "SHA1NEXTE", 0xC9: "SHA1MSG1", 0xCA: "SHA1MSG2", 0xCB: "SHA256RNDS2",
                                    0xCC: "SHA256MSG1", 0xCD: "SHA256MSG2"]
        for opcode in UInt8(0x00)...0xFF {
            if opcode <= 0x0B || (0x1C...0x1E).contains(opcode) { continue }
            if let name = sse41[opcode] {
                t.add(opcode, name + " Vx,Wx", .sse41, form: .any, prefix: .operandSize)
            } else if let name = aes[opcode] {
                t.add(opcode, name + " Vdq,Wdq", .aes, form: .any, prefix: .operandSize)
            } else if let name = sha[opcode] {
                t.add(opcode, name + " Vdq,Wdq", .sha, form: .any)
            } else {
                switch opcode {
                case 0x2A: t.add(opcode, "MOVNTDQA Vx,Mx", .sse41, form: .memoryOnly, prefix: .operandSize)
                case 0x37: t.add(opcode, "PCMPGTQ Vx,Wx", .sse42, form: .any, prefix: .operandSize)
                case 0x80: t.add(opcode, "INVEPT Gy,Mdq", .vmx, form: .memoryOnly, prefix: .operandSize)
                case 0x81: t.add(opcode, "INVVPID Gy,Mdq", .vmx, form: .memoryOnly, prefix: .operandSize)
                case 0x82: t.add(opcode, "INVPCID Gy,Mdq", .invpcid, form: .memoryOnly, prefix: .operandSize)
                case 0xF0:
                    t.add(opcode, "MOVBE Gy,My", .movbe, form: .memoryOnly)
                    t.add(opcode, "CRC32 Gd,Eb", .sse42, form: .any, prefix: .repne)
                case 0xF1:
                    t.add(opcode, "MOVBE My,Gy", .movbe, form: .memoryOnly)
                    t.add(opcode, "CRC32 Gd,Ey", .sse42, form: .any, prefix: .repne)
                case 0xF6:
                    t.add(opcode, "ADCX Gy,Ey", .adx, form: .any, prefix: .operandSize)
                    t.add(opcode, "ADOX Gy,Ey", .adx, form: .any, prefix: .repe)
                default:
                    t.reserved(opcode, form: .any)
                }
            }
        }
        return t.rows
    }()

    static let threeByte3A: [OpcodeMapEntry] = {
        var t = OpcodeRows(.threeByte3A)
        let sse41: [UInt8: String] = [
            0x08: "ROUNDPS", 0x09: "ROUNDPD", 0x0A: "ROUNDSS", 0x0B: "ROUNDSD", 0x0C: "BLENDPS", 0x0D: "BLENDPD",
            0x0E: "PBLENDW", 0x14: "PEXTRB Rd/Mb,Vdq,Ib", 0x15: "PEXTRW Rd/Mw,Vdq,Ib", 0x16: "PEXTRD/Q Ey,Vdq,Ib",
            0x17: "EXTRACTPS Ed,Vdq,Ib", 0x20: "PINSRB Vdq,Ry/Mb,Ib", 0x21: "INSERTPS Vdq,Udq/Md,Ib",
            0x22: "PINSRD/Q Vdq,Ey,Ib", 0x40: "DPPS", 0x41: "DPPD", 0x42: "MPSADBW",
        ]
        let sse42: [UInt8: String] = [0x60: "PCMPESTRM", 0x61: "PCMPESTRI", 0x62: "PCMPISTRM", 0x63: "PCMPISTRI"]
        for opcode in UInt8(0x00)...0xFF {
            if let name = sse41[opcode] {
                t.add(opcode, name.contains(",") ? name : name + " Vx,Wx,Ib", .sse41, form: .any, prefix: .operandSize)
            } else if let name = sse42[opcode] {
                t.add(opcode, name + " Vdq,Wdq,Ib", .sse42, form: .any, prefix: .operandSize)
            } else {
                switch opcode {
                case 0x0F:
                    t.sse(opcode, [(.none, "PALIGNR Pq,Qq,Ib", .ssse3), (.operandSize, "PALIGNR Vx,Wx,Ib", .ssse3)])
                case 0x44: t.add(opcode, "PCLMULQDQ Vdq,Wdq,Ib", .pclmul, form: .any, prefix: .operandSize)
                case 0xCC: t.add(opcode, "SHA1RNDS4 Vdq,Wdq,Ib", .sha, form: .any)
                case 0xDF: t.add(opcode, "AESKEYGENASSIST Vdq,Wdq,Ib", .aes, form: .any, prefix: .operandSize)
                default: t.reserved(opcode, form: .any)
                }
            }
        }
        return t.rows
    }()
}
