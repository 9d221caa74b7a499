import ApusCore

/// SSE4.2: CRC32 (F2 0F 38 F0/F1) and the string comparisons PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM
/// (66 0F 3A 60-63), written from the SDM's definitions (Vol. 2B, 4.1 "Imm8 Control Byte Operation for PCMPESTRI /
/// PCMPESTRM / PCMPISTRI / PCMPISTRM"). PCMPGTQ is with the SSE4.1 lane operations (CPUCore+SSE41.swift).
extension CPUCore {
    /// CRC32 r32/r64, r/m8 (F0) or r/m16/32/64 (F1): CRC-32C (polynomial 0x1EDC6F41, bit-reflected) of the source
    /// continued from the destination's low 32 bits; the result is zero-extended. Flags are unchanged.
    func crc32(_ i: inout Instruction, _ op: Int) throws {
        let (modrm, operand) = try decodeModRM(&i)
        let size = op == 0xF0 ? 1 : i.operandSize
        let data = try read(operand, size: size, i)
        let crc = Self.crc32c(UInt32(truncatingIfNeeded: register(modrm.reg, size: 4)), data, bytes: size)
        setRegister(modrm.reg, size: i.rexW ? 8 : 4, UInt64(crc))
    }

    static func crc32c(_ start: UInt32, _ data: UInt64, bytes: Int) -> UInt32 {
        var crc = start
        for index in 0..<bytes {
            crc ^= UInt32(truncatingIfNeeded: data >> UInt64(8 * index)) & 0xFF
            for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        }
        return crc
    }

    /// 66 0F 3A 60 PCMPESTRM, 61 PCMPESTRI, 62 PCMPISTRM, 63 PCMPISTRI. The source may be unaligned.
    func stringCompare(_ i: Instruction, _ op: Int, reg: Int, _ operand: Operand, _ immediate: Int) throws {
        let first = xmm(reg), second = try vector(operand, i, aligned: false)
        let words = immediate & 1 != 0, count = words ? 8 : 16
        let lengths: (Int, Int)
        if op < 0x62 {   // explicit lengths in EAX and EDX (RAX and RDX with REX.W): magnitude, at most `count`
            let size = i.rexW ? 8 : 4
            func length(_ index: Int) -> Int {
                let value = Int64(bitPattern: signExtend(register(index, size: size), from: size))
                return value.magnitude >= UInt64(count) ? count : Int(value.magnitude)
            }
            lengths = (length(0), length(2))
        } else {
            lengths = (Self.implicitLength(first, words: words), Self.implicitLength(second, words: words))
        }
        let mask = Self.compareStrings(first, second, lengths: lengths, control: immediate)
        var flags: UInt64 = mask != 0 ? Flag.cf : 0
        if lengths.1 < count { flags |= Flag.zf }
        if lengths.0 < count { flags |= Flag.sf }
        if mask & 1 != 0 { flags |= Flag.of }
        if op & 1 != 0 {   // the index: of the lowest (imm[6] clear) or highest set bit, `count` when none
            let index = mask == 0 ? count
                : (immediate & 0x40 != 0 ? 31 - mask.leadingZeroBitCount : mask.trailingZeroBitCount)
            setRegister(1, size: 4, UInt64(index))
        } else {           // the mask in XMM0: as bits (imm[6] clear) or widened to a byte/word per element
            if immediate & 0x40 == 0 {
                setXMM(0, (UInt64(mask), 0))
            } else {
                let width = words ? 2 : 1
                let lanes = (0..<count).map { Int64(mask >> UInt32($0) & 1 != 0 ? -1 : 0) }
                setXMM(0, Self.vector(Self.fromLanes(lanes, width: width)))
            }
        }
        setArithmeticFlags(flags)
    }

    /// The number of elements before the first zero one.
    static func implicitLength(_ v: Vector, words: Bool) -> Int {
        let elements = unsignedLanes(bytes(v), width: words ? 2 : 1)
        return elements.firstIndex(of: 0) ?? elements.count
    }

    /// IntRes2 of the SDM: the aggregation of every element pair's comparison, then the polarity. `lengths` are
    /// the valid elements of the first (register) and second (register or memory) operand.
    static func compareStrings(_ a: Vector, _ b: Vector, lengths: (Int, Int), control: Int) -> UInt32 {
        let words = control & 1 != 0, signed = control & 2 != 0, count = words ? 8 : 16
        let width = words ? 2 : 1
        let first = signed ? lanes(bytes(a), width: width) : unsignedLanes(bytes(a), width: width).map { Int64($0) }
        let second = signed ? lanes(bytes(b), width: width) : unsignedLanes(bytes(b), width: width).map { Int64($0) }
        let (firstLength, secondLength) = lengths
        var result: UInt32 = 0
        switch control >> 2 & 3 {
        case 0:   // equal any: second[j] is one of the first operand's valid elements
            for j in 0..<secondLength where (0..<firstLength).contains(where: { first[$0] == second[j] }) {
                result |= 1 << UInt32(j)
            }
        case 1:   // ranges: second[j] lies in a pair [first[k], first[k+1]] of valid elements
            for j in 0..<secondLength {
                let inRange = stride(from: 0, to: firstLength - 1, by: 2).contains { k in
                    first[k] <= second[j] && second[j] <= first[k + 1]
                }
                if inRange { result |= 1 << UInt32(j) }
            }
        case 2:   // equal each: element by element; two invalid elements are equal, one invalid is not
            for j in 0..<count {
                let firstValid = j < firstLength, secondValid = j < secondLength
                let equal = firstValid && secondValid ? first[j] == second[j] : !firstValid && !secondValid
                if equal { result |= 1 << UInt32(j) }
            }
        default:  // equal ordered: the first operand is found in the second starting at j (running off the end matches)
            for j in 0..<count {
                let matches = (0..<(count - j)).allSatisfy { k in
                    if k >= firstLength { return true }
                    if j + k >= secondLength { return false }
                    return first[k] == second[j + k]
                }
                if matches { result |= 1 << UInt32(j) }
            }
        }
        let all: UInt32 = words ? 0xFF : 0xFFFF
        switch control >> 4 & 3 {
        case 1: result ^= all                                                 // negative
        case 3: result ^= secondLength >= 32 ? all : (1 << UInt32(secondLength)) - 1   // masked negative
        default: break
        }
        return result
    }
}
