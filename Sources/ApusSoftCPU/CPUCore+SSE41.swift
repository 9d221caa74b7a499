import ApusCore

/// SSE4.1 (66 0F 38 and 66 0F 3A): sign and zero extension, the dword multiplies, minimum and maximum, PTEST, the
/// blends (by immediate and by XMM0), insert and extract, PHMINPOSUW, PACKUSDW, PCMPEQQ, MPSADBW and MOVNTDQA.
/// ROUND* and DPPS/DPPD are in CPUCore+SSE41Float.swift, SSE4.2 in CPUCore+SSE42.swift. `threeByteMap` hands every
/// 0F 38/0F 3A opcode here first; those that are not SSE4's go on to SSSE3.
extension CPUCore {
    static let sse41Opcodes38: Set<Int> = [0x10, 0x14, 0x15, 0x17, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x28, 0x29,
                                           0x2A, 0x2B, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x38, 0x39, 0x3A, 0x3B,
                                           0x3C, 0x3D, 0x3E, 0x3F, 0x40, 0x41]
    static let sse41Opcodes3A: Set<Int> = [0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x14, 0x15, 0x16, 0x17, 0x20,
                                           0x21, 0x22, 0x40, 0x41, 0x42]

    /// The SSE4 feature an opcode of the 0F 38 (`map` 0x38) or 0F 3A map belongs to, nil for the others.
    static func sse4Feature(map: Int, _ op: Int, repeatPrefix: UInt8) -> InstructionFeature? {
        if map == 0x38 {
            if (op == 0xF0 || op == 0xF1) && repeatPrefix == 0xF2 { return .sse42 }   // CRC32
            if op == 0x37 { return .sse42 }                                             // PCMPGTQ
            return sse41Opcodes38.contains(op) ? .sse41 : nil
        }
        if (0x60...0x63).contains(op) { return .sse42 }                                 // PCMP[EI]STR[IM]
        return sse41Opcodes3A.contains(op) ? .sse41 : nil
    }

    /// Runs an SSE4.1/SSE4.2 instruction; false when `op` is not one (the caller goes on with SSSE3's opcodes).
    func sse4(_ i: inout Instruction, map: Int, op: Int) throws -> Bool {
        guard let feature = Self.sse4Feature(map: map, op, repeatPrefix: i.repeatPrefix) else { return false }
        guard model.advertises(feature) else { throw notImplemented(0x1_0000 | UInt64(map) << 8 | UInt64(op), i) }
        if map == 0x38 && op >= 0xF0 { try crc32(&i, op); return true }   // a general-register instruction
        // Every other SSE4 instruction is 66-prefixed (F3/F2 select nothing here) and needs the SSE state enabled.
        guard i.repeatPrefix == 0, i.operandSizePrefix else { throw CPUFault.ud }
        if sregs.cr0 & ControlRegister.cr0EM != 0 || sregs.cr4 & ControlRegister.cr4OSFXSR == 0 { throw CPUFault.ud }
        if sregs.cr0 & ControlRegister.cr0TS != 0 { throw CPUFault(vector: .deviceNotAvailable, errorCode: nil) }
        let (modrm, operand) = try decodeModRM(&i)
        if map == 0x38 {
            try sse41Map38(i, op, reg: modrm.reg, operand)
        } else {
            // The immediate comes before the operand is read: RIP-relative addresses count from the instruction's end.
            let immediate = Int(try fetch8(&i))
            if feature == .sse42 { try stringCompare(i, op, reg: modrm.reg, operand, immediate) }
            else { try sse41Map3A(i, op, reg: modrm.reg, operand, immediate) }
        }
        return true
    }

    private func sse41Map38(_ i: Instruction, _ op: Int, reg: Int, _ operand: Operand) throws {
        switch op {
        case 0x20...0x25, 0x30...0x35:   // PMOVSX/PMOVZX: the source is as wide as the lanes it fills
            let (from, to) = [(1, 2), (1, 4), (1, 8), (2, 4), (2, 8), (4, 8)][op & 7]
            let bytes = 16 / to * from
            let raw: Vector
            if case .register(let index) = operand { raw = xmm(index) } else { raw = (try read(operand, size: bytes, i), 0) }
            let source = Array(Self.bytes(raw).prefix(bytes))
            let values = op < 0x30 ? Self.lanes(source, width: from)
                : Self.lanes(source, width: from).map { Int64(bitPattern: UInt64(bitPattern: $0) & Self.laneMask(from)) }
            setXMM(reg, Self.vector(Self.fromLanes(values, width: to)))
        case 0x2A:   // MOVNTDQA: an aligned load with a non-temporal hint (no cache here)
            guard case .memory = operand else { throw CPUFault.ud }
            setXMM(reg, try vector(operand, i, aligned: true))
        case 0x41:   // PHMINPOSUW: the smallest unsigned word and its (lowest) index
            let words = Self.unsignedLanes(Self.bytes(try vector(operand, i, aligned: true)), width: 2)
            let minimum = words.min() ?? 0
            let index = UInt64(words.firstIndex(of: minimum) ?? 0)
            setXMM(reg, (minimum | index << 16, 0))
        case 0x17:   // PTEST: ZF from source AND destination, CF from source AND NOT destination; the rest cleared
            let d = xmm(reg), s = try vector(operand, i, aligned: true)
            let zf = (d.low & s.low) | (d.high & s.high) == 0, cf = (~d.low & s.low) | (~d.high & s.high) == 0
            setArithmeticFlags((zf ? Flag.zf : 0) | (cf ? Flag.cf : 0))
        default:
            let d = Self.bytes(xmm(reg)), s = Self.bytes(try vector(operand, i, aligned: true))
            setXMM(reg, Self.vector(sse41Packed(op, d, s, selector: Self.bytes(xmm(0)))))
        }
    }

    static func laneMask(_ width: Int) -> UInt64 { width == 8 ? ~0 : (1 << UInt64(8 * width)) - 1 }

    static func unsignedLanes(_ bytes: [UInt8], width: Int) -> [UInt64] {
        lanes(bytes, width: width).map { UInt64(bitPattern: $0) & laneMask(width) }
    }

    /// The two-operand 0F 38 forms on lanes; `selector` is XMM0 for the variable blends.
    func sse41Packed(_ op: Int, _ d: [UInt8], _ s: [UInt8], selector: [UInt8]) -> [UInt8] {
        switch op {
        case 0x10, 0x14, 0x15:   // PBLENDVB/BLENDVPS/BLENDVPD: the source's lane where XMM0's lane has its top bit set
            let width = op == 0x10 ? 1 : (op == 0x14 ? 4 : 8)
            return (0..<16).map { selector[$0 | (width - 1)] & 0x80 != 0 ? s[$0] : d[$0] }
        case 0x28:   // PMULDQ: signed dwords 0 and 2, full 64-bit products
            let a = Self.lanes(d, width: 4), b = Self.lanes(s, width: 4)
            return Self.fromLanes([a[0] &* b[0], a[2] &* b[2]], width: 8)
        case 0x29, 0x37:   // PCMPEQQ; SSE4.2's PCMPGTQ (signed)
            return Self.fromLanes(zip(Self.lanes(d, width: 8), Self.lanes(s, width: 8)).map {
                (op == 0x29 ? $0 == $1 : $0 > $1) ? -1 : 0
            }, width: 8)
        case 0x2B:   // PACKUSDW: signed dwords to unsigned-saturated words, destination's first
            return Self.fromLanes((Self.lanes(d, width: 4) + Self.lanes(s, width: 4)).map { min(max($0, 0), 0xFFFF) },
                                  width: 2)
        case 0x40:   // PMULLD: the low 32 bits of each product
            return Self.fromLanes(zip(Self.lanes(d, width: 4), Self.lanes(s, width: 4)).map { $0 &* $1 }, width: 4)
        default:     // 38-3F: PMINSB, PMINSD, PMINUW, PMINUD, PMAXSB, PMAXSD, PMAXUW, PMAXUD
            let width = [1, 4, 2, 4][op & 3], signed = op & 3 < 2, maximum = op >= 0x3C
            let a = signed ? Self.lanes(d, width: width) : Self.unsignedLanes(d, width: width).map { Int64($0) }
            let b = signed ? Self.lanes(s, width: width) : Self.unsignedLanes(s, width: width).map { Int64($0) }
            return Self.fromLanes(zip(a, b).map { maximum ? max($0, $1) : min($0, $1) }, width: width)
        }
    }

    private func sse41Map3A(_ i: Instruction, _ op: Int, reg: Int, _ operand: Operand, _ immediate: Int) throws {
        switch op {
        case 0x08...0x0B: try roundFloat(i, op, reg: reg, operand, immediate)
        case 0x40, 0x41: try dotProduct(i, single: op == 0x40, reg: reg, operand, immediate)
        case 0x14...0x17: try extract(i, op, reg: reg, operand, immediate)
        case 0x20...0x22: try insert(i, op, reg: reg, operand, immediate)
        default:
            let d = Self.bytes(xmm(reg)), s = Self.bytes(try vector(operand, i, aligned: true))
            setXMM(reg, Self.vector(Self.sse41Immediate(op, d, s, immediate)))
        }
    }

    /// BLENDPS, BLENDPD, PBLENDW (a lane from the source where the immediate's bit is set) and MPSADBW.
    static func sse41Immediate(_ op: Int, _ d: [UInt8], _ s: [UInt8], _ immediate: Int) -> [UInt8] {
        if op == 0x42 {   // MPSADBW: eight sums of absolute differences over sliding 4-byte windows
            let destinationStart = (immediate >> 2 & 1) * 4, sourceStart = (immediate & 3) * 4
            let sums = (0..<8).map { lane in
                (0..<4).reduce(Int64(0)) { $0 + Int64(abs(Int(d[destinationStart + lane + $1]) - Int(s[sourceStart + $1]))) }
            }
            return fromLanes(sums, width: 2)
        }
        let width = [0x0C: 4, 0x0D: 8, 0x0E: 2][op] ?? 1
        return (0..<16).map { immediate >> ($0 / width) & 1 != 0 ? s[$0] : d[$0] }
    }

    /// PEXTRB/PEXTRW/PEXTRD/PEXTRQ/EXTRACTPS: a lane of XMM`reg` to a general register (zero-extended) or memory.
    private func extract(_ i: Instruction, _ op: Int, reg: Int, _ operand: Operand, _ immediate: Int) throws {
        let width = op == 0x14 ? 1 : (op == 0x15 ? 2 : (op == 0x16 && i.rexW ? 8 : 4))
        let lane = immediate & (16 / width - 1)
        let bytes = Self.bytes(xmm(reg))
        let value = (0..<width).reduce(UInt64(0)) { $0 | UInt64(bytes[lane * width + $1]) << UInt64(8 * $1) }
        if case .register(let index) = operand {
            setRegister(index, size: max(width, 4), value)
        } else {
            try write(operand, size: width, value, i)
        }
    }

    /// PINSRB/PINSRD/PINSRQ/INSERTPS: a byte, dword or qword into a lane of XMM`reg`.
    private func insert(_ i: Instruction, _ op: Int, reg: Int, _ operand: Operand, _ immediate: Int) throws {
        var bytes = Self.bytes(xmm(reg))
        if op == 0x21 {   // INSERTPS: a source dword (register: chosen by imm[7:6]) into imm[5:4], then imm[3:0] zeroes
            let value: UInt64
            if case .register(let index) = operand { value = dword(xmm(index), immediate >> 6 & 3) }
            else { value = try read(operand, size: 4, i) }
            let target = immediate >> 4 & 3
            for byte in 0..<4 { bytes[target * 4 + byte] = UInt8(truncatingIfNeeded: value >> UInt64(8 * byte)) }
            for lane in 0..<4 where immediate >> lane & 1 != 0 { for byte in 0..<4 { bytes[lane * 4 + byte] = 0 } }
            setXMM(reg, Self.vector(bytes))
            return
        }
        let width = op == 0x20 ? 1 : (i.rexW ? 8 : 4)
        let value: UInt64
        if case .register(let index) = operand { value = register(index, size: max(width, 4)) }
        else { value = try read(operand, size: width, i) }
        let lane = immediate & (16 / width - 1)
        for byte in 0..<width { bytes[lane * width + byte] = UInt8(truncatingIfNeeded: value >> UInt64(8 * byte)) }
        setXMM(reg, Self.vector(bytes))
    }
}
