import ApusCore

/// SSE2 packed integer arithmetic on XMM registers (the 66-prefixed forms of 0F 60-76 and D1-FE, and the PS/PD logic
/// forms 0F 54-57): lane-wise arithmetic with wrap-around or saturation, compares, min/max, averages, multiplies,
/// shifts, packs and unpacks. Lanes are Swift SIMD vectors reinterpreting the register's bits (little-endian, lane 0
/// lowest), so nothing allocates.
extension CPUCore {
    func packedInteger(_ i: inout Instruction, _ op: Int, reg: Int, _ operand: Operand) throws {
        switch op {
        case 0x71, 0x72, 0x73:
            // Shift by immediate: 71 words, 72 dwords, 73 qwords (and /3, /7 whole-register byte shifts).
            guard case .register(let index) = operand else { throw CPUFault.ud }
            let count = try fetch8(&i)
            let kind = reg & 7
            let value = xmm(index)
            let result: Vector
            switch (op, kind) {
            case (0x73, 3): result = byteShift(value, right: true, count)
            case (0x73, 7): result = byteShift(value, right: false, count)
            case (_, 2), (_, 4), (_, 6):
                guard op != 0x73 || kind != 4 else { throw CPUFault.ud }   // no PSRAQ
                result = laneShift(value, width: op == 0x71 ? 16 : op == 0x72 ? 32 : 64, kind: kind, count: count)
            default: throw CPUFault.ud
            }
            setXMM(index, result)
        case 0x70:
            throw CPUFault.ud   // PSHUFD and friends are moves (CPUCore+SSEMoves)
        default:
            let b = try vector(operand, i, aligned: true)
            setXMM(reg, try packedBinary(op, xmm(reg), b))
        }
    }

    /// The register-or-memory forms: `a` is the destination's old value, `b` the source.
    func packedBinary(_ op: Int, _ a: Vector, _ b: Vector) throws -> Vector {
        switch op {
        case 0xDB, 0x54: return (a.low & b.low, a.high & b.high)
        case 0xDF, 0x55: return (~a.low & b.low, ~a.high & b.high)
        case 0xEB, 0x56: return (a.low | b.low, a.high | b.high)
        case 0xEF, 0x57: return (a.low ^ b.low, a.high ^ b.high)
        case 0xFC: return bits(u8(a) &+ u8(b))
        case 0xFD: return bits(u16(a) &+ u16(b))
        case 0xFE: return bits(u32(a) &+ u32(b))
        case 0xD4: return (a.low &+ b.low, a.high &+ b.high)
        case 0xF8: return bits(u8(a) &- u8(b))
        case 0xF9: return bits(u16(a) &- u16(b))
        case 0xFA: return bits(u32(a) &- u32(b))
        case 0xFB: return (a.low &- b.low, a.high &- b.high)
        case 0xEC: return bits(SIMD16<Int8>(clamping: SIMD16<Int16>(truncatingIfNeeded: i8(a)) &+ SIMD16<Int16>(truncatingIfNeeded: i8(b))))
        case 0xED: return bits(SIMD8<Int16>(clamping: SIMD8<Int32>(truncatingIfNeeded: i16(a)) &+ SIMD8<Int32>(truncatingIfNeeded: i16(b))))
        case 0xE8: return bits(SIMD16<Int8>(clamping: SIMD16<Int16>(truncatingIfNeeded: i8(a)) &- SIMD16<Int16>(truncatingIfNeeded: i8(b))))
        case 0xE9: return bits(SIMD8<Int16>(clamping: SIMD8<Int32>(truncatingIfNeeded: i16(a)) &- SIMD8<Int32>(truncatingIfNeeded: i16(b))))
        case 0xDC: return bits(SIMD16<UInt8>(clamping: SIMD16<UInt16>(truncatingIfNeeded: u8(a)) &+ SIMD16<UInt16>(truncatingIfNeeded: u8(b))))
        case 0xDD: return bits(SIMD8<UInt16>(clamping: SIMD8<UInt32>(truncatingIfNeeded: u16(a)) &+ SIMD8<UInt32>(truncatingIfNeeded: u16(b))))
        case 0xD8: return bits(SIMD16<UInt8>(clamping: SIMD16<Int16>(truncatingIfNeeded: u8(a)) &- SIMD16<Int16>(truncatingIfNeeded: u8(b))))
        case 0xD9: return bits(SIMD8<UInt16>(clamping: SIMD8<Int32>(truncatingIfNeeded: u16(a)) &- SIMD8<Int32>(truncatingIfNeeded: u16(b))))
        case 0x74: return bits(SIMD16<UInt8>(repeating: 0).replacing(with: 0xFF, where: u8(a) .== u8(b)))
        case 0x75: return bits(SIMD8<UInt16>(repeating: 0).replacing(with: 0xFFFF, where: u16(a) .== u16(b)))
        case 0x76: return bits(SIMD4<UInt32>(repeating: 0).replacing(with: .max, where: u32(a) .== u32(b)))
        case 0x64: return bits(SIMD16<UInt8>(repeating: 0).replacing(with: 0xFF, where: i8(a) .> i8(b)))
        case 0x65: return bits(SIMD8<UInt16>(repeating: 0).replacing(with: 0xFFFF, where: i16(a) .> i16(b)))
        case 0x66: return bits(SIMD4<UInt32>(repeating: 0).replacing(with: .max, where: i32(a) .> i32(b)))
        case 0xDA: return bits(pointwiseMin(u8(a), u8(b)))
        case 0xDE: return bits(pointwiseMax(u8(a), u8(b)))
        case 0xEA: return bits(pointwiseMin(i16(a), i16(b)))
        case 0xEE: return bits(pointwiseMax(i16(a), i16(b)))
        case 0xE0: return bits(SIMD16<UInt8>(truncatingIfNeeded: (SIMD16<UInt16>(truncatingIfNeeded: u8(a)) &+ SIMD16<UInt16>(truncatingIfNeeded: u8(b)) &+ 1) &>> 1))
        case 0xE3: return bits(SIMD8<UInt16>(truncatingIfNeeded: (SIMD8<UInt32>(truncatingIfNeeded: u16(a)) &+ SIMD8<UInt32>(truncatingIfNeeded: u16(b)) &+ 1) &>> 1))
        case 0xD5: return bits(u16(a) &* u16(b))
        case 0xE5: return bits(SIMD8<Int16>(truncatingIfNeeded: (SIMD8<Int32>(truncatingIfNeeded: i16(a)) &* SIMD8<Int32>(truncatingIfNeeded: i16(b))) &>> 16))
        case 0xE4: return bits(SIMD8<UInt16>(truncatingIfNeeded: (SIMD8<UInt32>(truncatingIfNeeded: u16(a)) &* SIMD8<UInt32>(truncatingIfNeeded: u16(b))) &>> 16))
        case 0xF4: return ((a.low & 0xFFFF_FFFF) &* (b.low & 0xFFFF_FFFF), (a.high & 0xFFFF_FFFF) &* (b.high & 0xFFFF_FFFF))
        case 0xF5:
            let products = SIMD8<Int32>(truncatingIfNeeded: i16(a)) &* SIMD8<Int32>(truncatingIfNeeded: i16(b))
            return bits(products.evenHalf &+ products.oddHalf)
        case 0xF6: return (sumOfAbsoluteDifferences(a.low, b.low), sumOfAbsoluteDifferences(a.high, b.high))
        case 0xD1, 0xD2, 0xD3, 0xE1, 0xE2, 0xF1, 0xF2, 0xF3:
            // Shift by the source's low quadword: D* logical right, E* arithmetic right, F* left.
            let width = [0xD1: 16, 0xE1: 16, 0xF1: 16, 0xD2: 32, 0xE2: 32, 0xF2: 32][op] ?? 64
            let kind = op < 0xE0 ? 2 : op < 0xF0 ? 4 : 6
            return laneShift(a, width: width, kind: kind, count: b.low)
        case 0x60...0x62, 0x68...0x6A:
            return unpack(a, b, width: [0x60: 8, 0x68: 8, 0x61: 16, 0x69: 16][op] ?? 32, high: op >= 0x68)
        case 0x6C: return (a.low, b.low)
        case 0x6D: return (a.high, b.high)
        case 0x63: return (word(SIMD8<Int8>(clamping: i16(a))), word(SIMD8<Int8>(clamping: i16(b))))
        case 0x67: return (word(SIMD8<UInt8>(clamping: i16(a))), word(SIMD8<UInt8>(clamping: i16(b))))
        case 0x6B: return (word(SIMD4<Int16>(clamping: i32(a))), word(SIMD4<Int16>(clamping: i32(b))))
        default: throw CPUFault.ud
        }
    }

    /// PSRL/PSRA/PSLL (kind 2, 4, 6 as the 71-73 groups number them) on `width`-bit lanes. Counts past the lane
    /// width clear the lanes (logical) or fill them with the sign (arithmetic).
    func laneShift(_ value: Vector, width: Int, kind: Int, count: UInt64) -> Vector {
        let tooFar = count >= UInt64(width)
        switch (width, kind) {
        case (16, 2): return tooFar ? (0, 0) : bits(u16(value) &>> UInt16(count))
        case (16, 6): return tooFar ? (0, 0) : bits(u16(value) &<< UInt16(count))
        case (16, _): return bits(i16(value) &>> Int16(min(count, 15)))
        case (32, 2): return tooFar ? (0, 0) : bits(u32(value) &>> UInt32(count))
        case (32, 6): return tooFar ? (0, 0) : bits(u32(value) &<< UInt32(count))
        case (32, _): return bits(i32(value) &>> Int32(min(count, 31)))
        case (_, 2): return tooFar ? (0, 0) : (value.low >> count, value.high >> count)
        default: return tooFar ? (0, 0) : (value.low << count, value.high << count)
        }
    }

    /// PSRLDQ / PSLLDQ: the whole register by bytes; 16 or more clears it.
    private func byteShift(_ value: Vector, right: Bool, _ count: UInt64) -> Vector {
        guard count < 16 else { return (0, 0) }
        let whole = UInt128(value.high) << 64 | UInt128(value.low)
        let shifted = right ? whole >> (8 * count) : whole << (8 * count)
        return (UInt64(truncatingIfNeeded: shifted), UInt64(truncatingIfNeeded: shifted >> 64))
    }

    /// PUNPCKL*/PUNPCKH*: interleaves the low (or high) halves' lanes of `a` and `b`, `a`'s first.
    private func unpack(_ a: Vector, _ b: Vector, width: Int, high: Bool) -> Vector {
        let first = high ? a.high : a.low, second = high ? b.high : b.low
        let lanes = 64 / width
        let mask: UInt64 = (1 << UInt64(width)) - 1
        var low: UInt64 = 0, upper: UInt64 = 0
        for lane in 0..<lanes {
            let x = (first >> UInt64(lane * width)) & mask, y = (second >> UInt64(lane * width)) & mask
            let position = 2 * lane * width   // bit offset of the pair in the 128-bit result
            if position < 64 { low |= x << UInt64(position) | y << UInt64(position + width) }
            else { upper |= x << UInt64(position - 64) | y << UInt64(position - 64 + width) }
        }
        return (low, upper)
    }

    private func sumOfAbsoluteDifferences(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var sum: UInt64 = 0
        for byte in 0..<8 {
            let x = (a >> UInt64(8 * byte)) & 0xFF, y = (b >> UInt64(8 * byte)) & 0xFF
            sum += x > y ? x - y : y - x
        }
        return sum
    }
}

// Reinterpretations of a 128-bit register as SIMD lanes, and back.
@inline(__always) private func u8(_ v: CPUCore.Vector) -> SIMD16<UInt8> { unsafeBitCast(SIMD2<UInt64>(v.low, v.high), to: SIMD16<UInt8>.self) }
@inline(__always) private func i8(_ v: CPUCore.Vector) -> SIMD16<Int8> { unsafeBitCast(SIMD2<UInt64>(v.low, v.high), to: SIMD16<Int8>.self) }
@inline(__always) private func u16(_ v: CPUCore.Vector) -> SIMD8<UInt16> { unsafeBitCast(SIMD2<UInt64>(v.low, v.high), to: SIMD8<UInt16>.self) }
@inline(__always) private func i16(_ v: CPUCore.Vector) -> SIMD8<Int16> { unsafeBitCast(SIMD2<UInt64>(v.low, v.high), to: SIMD8<Int16>.self) }
@inline(__always) private func u32(_ v: CPUCore.Vector) -> SIMD4<UInt32> { unsafeBitCast(SIMD2<UInt64>(v.low, v.high), to: SIMD4<UInt32>.self) }
@inline(__always) private func i32(_ v: CPUCore.Vector) -> SIMD4<Int32> { unsafeBitCast(SIMD2<UInt64>(v.low, v.high), to: SIMD4<Int32>.self) }
@inline(__always) private func bits<V: SIMD>(_ lanes: V) -> CPUCore.Vector {
    let halves = unsafeBitCast(lanes, to: SIMD2<UInt64>.self)
    return (halves[0], halves[1])
}
/// Eight bytes (or four words) of a pack's result as one quadword.
@inline(__always) private func word<V: SIMD>(_ lanes: V) -> UInt64 { unsafeBitCast(lanes, to: UInt64.self) }
