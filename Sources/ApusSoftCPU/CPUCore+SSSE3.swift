import ApusCore

/// SSSE3's integer operations in the 0F 38 and 0F 3A maps, on MMX registers (no prefix) and XMM registers (66):
/// PSHUFB, PHADDW/D/SW, PHSUBW/D/SW, PMADDUBSW, PSIGNB/W/D, PMULHRSW, PABSB/W/D and PALIGNR. Every other opcode of
/// the two maps goes to SSE4.1/SSE4.2 first (CPUCore+SSE41.swift); the rest (AES, SHA, MOVBE...) is not implemented
/// and stays #UD.
extension CPUCore {
    /// 0F 38 xx and 0F 3A xx: `map` is 0x38 or 0x3A; the third opcode byte is still unfetched.
    func threeByteMap(_ i: inout Instruction, map: Int) throws {
        let op = Int(try fetch8(&i))
        if try sse4(&i, map: map, op: op) { return }   // SSE4.1/SSE4.2 (CPUCore+SSE41.swift)
        let known = map == 0x38 ? ((0x00...0x0B).contains(op) || (0x1C...0x1E).contains(op)) : op == 0x0F
        guard known, model.advertises(.ssse3) else { throw notImplemented(0x1_0000 | UInt64(map) << 8 | UInt64(op), i) }
        let prefix = i.repeatPrefix != 0 ? Int(i.repeatPrefix) : (i.operandSizePrefix ? 0x66 : 0)
        guard prefix == 0 || prefix == 0x66 else { throw CPUFault.ud }
        let wide = prefix == 0x66
        if sregs.cr0 & ControlRegister.cr0EM != 0 { throw CPUFault.ud }
        if wide && sregs.cr4 & ControlRegister.cr4OSFXSR == 0 { throw CPUFault.ud }
        if sregs.cr0 & ControlRegister.cr0TS != 0 { throw CPUFault(vector: .deviceNotAvailable, errorCode: nil) }
        if !wide && fpu.fxsave[2] & 0x80 != 0 { throw CPUFault(vector: .floatingPointError, errorCode: nil) }
        let (modrm, operand) = try decodeModRM(&i)
        // The immediate comes before the operand is read: RIP-relative addresses count from the instruction's end.
        let shift = map == 0x3A ? Int(try fetch8(&i)) : 0
        let count = wide ? 16 : 8
        let destination: [UInt8], source: [UInt8]
        if wide {
            destination = Self.bytes(xmm(modrm.reg))
            source = Self.bytes(try vector(operand, i, aligned: true))
        } else {
            enterMMXMode()   // first, as the other MMX instructions do: MMi is then x87 slot i
            destination = Self.bytes((mm(modrm.reg & 7), 0), count: 8)
            let value: UInt64
            if case .register(let index) = operand { value = mm(index & 7) } else { value = try read(operand, size: 8, i) }
            source = Self.bytes((value, 0), count: 8)
        }
        let result = map == 0x3A
            ? Self.alignRight(destination, source, shift: shift)
            : Self.ssse3(op, destination, source, count: count)
        if wide { setXMM(modrm.reg, Self.vector(result)) } else { setMM(modrm.reg & 7, Self.vector(result).low) }
    }

    static func bytes(_ v: Vector, count: Int = 16) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 < 8 ? v.low : v.high) >> UInt64(8 * ($0 & 7))) }
    }

    static func vector(_ bytes: [UInt8]) -> Vector {
        var v: Vector = (0, 0)
        for (index, byte) in bytes.enumerated() {
            if index < 8 { v.low |= UInt64(byte) << UInt64(8 * index) } else { v.high |= UInt64(byte) << UInt64(8 * (index - 8)) }
        }
        return v
    }

    /// Signed lanes of `width` bytes, and back.
    static func lanes(_ bytes: [UInt8], width: Int) -> [Int64] {
        stride(from: 0, to: bytes.count, by: width).map { start in
            let raw = (0..<width).reduce(UInt64(0)) { $0 | UInt64(bytes[start + $1]) << UInt64(8 * $1) }
            let bits = UInt64(8 * width)
            return Int64(bitPattern: raw << (64 - bits)) >> Int64(64 - bits)
        }
    }

    static func fromLanes(_ lanes: [Int64], width: Int) -> [UInt8] {
        lanes.flatMap { lane in (0..<width).map { UInt8(truncatingIfNeeded: lane >> Int64(8 * $0)) } }
    }

    static func saturatedWord(_ value: Int64) -> Int64 { min(max(value, -32768), 32767) }

    static func ssse3(_ op: Int, _ d: [UInt8], _ s: [UInt8], count: Int) -> [UInt8] {
        switch op {
        case 0x00:   // PSHUFB: each source byte selects a destination byte, or zero with its top bit set
            return s.map { $0 & 0x80 != 0 ? 0 : d[Int($0) & (count - 1)] }
        case 0x01, 0x02, 0x03, 0x05, 0x06, 0x07:   // PHADDW/D/SW, PHSUBW/D/SW: adjacent pairs, destination first
            let width = op & 3 == 2 ? 4 : 2
            let subtract = op >= 5, saturate = op & 3 == 3
            let pairs = lanes(d, width: width) + lanes(s, width: width)
            let sums = stride(from: 0, to: pairs.count, by: 2).map { index -> Int64 in
                let value = subtract ? pairs[index] - pairs[index + 1] : pairs[index] + pairs[index + 1]
                return saturate ? saturatedWord(value) : value
            }
            return fromLanes(sums, width: width)
        case 0x04:   // PMADDUBSW: unsigned destination bytes times signed source bytes, pairs summed, saturated
            let products = (0..<count).map { Int64(d[$0]) * Int64(Int8(bitPattern: s[$0])) }
            let sums = stride(from: 0, to: count, by: 2).map { saturatedWord(products[$0] + products[$0 + 1]) }
            return fromLanes(sums, width: 2)
        case 0x08, 0x09, 0x0A:   // PSIGNB/W/D: negate, keep or zero by the source's sign
            let width = 1 << (op - 8)
            let values = zip(lanes(d, width: width), lanes(s, width: width)).map { value, sign -> Int64 in
                sign < 0 ? -value : (sign == 0 ? 0 : value)
            }
            return fromLanes(values, width: width)
        case 0x0B:   // PMULHRSW: the rounded high half of the 16-bit product scaled by 2^-15
            let values = zip(lanes(d, width: 2), lanes(s, width: 2)).map { a, b in (((a * b) >> 14) + 1) >> 1 }
            return fromLanes(values, width: 2)
        default:     // 1C-1E PABSB/W/D: the magnitude, unsigned (so the most negative value stays itself)
            let width = 1 << (op - 0x1C)
            return fromLanes(lanes(s, width: width).map { abs($0) }, width: width)
        }
    }

    /// PALIGNR: the destination:source concatenation (destination high) shifted right by `shift` bytes.
    static func alignRight(_ d: [UInt8], _ s: [UInt8], shift: Int) -> [UInt8] {
        let joined = s + d
        return (0..<d.count).map { shift + $0 < joined.count ? joined[shift + $0] : 0 }
    }
}
