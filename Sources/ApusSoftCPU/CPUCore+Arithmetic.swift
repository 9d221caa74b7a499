/// The ALU operations shared by many opcodes, with the SDM's flag rules.
extension CPUCore {
    /// ADD OR ADC SBB AND SUB XOR CMP, numbered as in opcode bits 3-5. Returns the result and whether to store it.
    /// The flags are recorded lazily (LazyFlags) and computed by Flag.add, Flag.sub and Flag.logic when read.
    func alu(_ operation: Int, _ a: UInt64, _ b: UInt64, size: Int) -> (UInt64, store: Bool) {
        let mask = Flag.mask(size)
        switch operation {
        case 0, 2:
            let carry = operation == 2 ? carryFlag() : 0
            let r = (a &+ b &+ carry) & mask
            recordFlags(.add, a, b, carry: carry, result: r, size: size)
            return (r, true)
        case 3, 5, 7:
            let borrow = operation == 3 ? carryFlag() : 0
            let r = (a &- b &- borrow) & mask
            recordFlags(.sub, a, b, carry: borrow, result: r, size: size)
            return (r, operation != 7)
        default:
            let r = (operation == 1 ? a | b : operation == 4 ? a & b : a ^ b) & mask
            recordFlags(.logic, 0, 0, carry: 0, result: r, size: size)
            return (r, true)
        }
    }

    /// ROL ROR RCL RCR SHL SHR SAL SAR by `count` (already masked to 5 or 6 bits).
    /// For counts above one, OF follows the one-bit rule applied to the final step, as Intel hardware does.
    func shift(_ operation: Int, _ value: UInt64, count: UInt64, size: Int) -> UInt64 {
        let bits = UInt64(size * 8)
        let mask = Flag.mask(size), sign = Flag.signBit(size)
        let v = value & mask
        guard count != 0 else { return v }
        var result: UInt64
        var carry: Bool
        switch operation {
        case 0:
            let n = count % bits
            result = n == 0 ? v : ((v << n) | (v >> (bits - n))) & mask
            carry = result & 1 != 0
            setArithmeticFlags((carry ? Flag.cf : 0) | ((result & sign != 0) != carry ? Flag.of : 0), mask: Flag.cf | Flag.of)
            return result
        case 1:
            let n = count % bits
            result = n == 0 ? v : ((v >> n) | (v << (bits - n))) & mask
            carry = result & sign != 0
            let second = result & (sign >> 1) != 0
            setArithmeticFlags((carry ? Flag.cf : 0) | (carry != second ? Flag.of : 0), mask: Flag.cf | Flag.of)
            return result
        case 2, 3:
            // Rotate through carry, one bit at a time: counts are small and this stays obviously right.
            var c = flag(Flag.cf)
            result = v
            let n = count % (bits + 1)
            for _ in 0..<n {
                if operation == 2 {
                    let out = result & sign != 0
                    result = ((result << 1) | (c ? 1 : 0)) & mask
                    c = out
                } else {
                    let out = result & 1 != 0
                    result = (result >> 1) | (c ? sign : 0)
                    c = out
                }
            }
            let of = operation == 2 ? ((result & sign != 0) != c) : ((result & sign != 0) != (result & (sign >> 1) != 0))
            setArithmeticFlags((c ? Flag.cf : 0) | (of ? Flag.of : 0), mask: Flag.cf | Flag.of)
            return result
        case 4, 6:
            result = count >= bits ? 0 : (v << count) & mask
            carry = count <= bits && (v >> (bits - count)) & 1 != 0
            let of = (result & sign != 0) != carry
            setArithmeticFlags(Flag.result(result, size) | (carry ? Flag.cf : 0) | (of ? Flag.of : 0))
            return result
        case 5:
            result = count >= bits ? 0 : v >> count
            carry = count <= bits && (v >> (count - 1)) & 1 != 0
            setArithmeticFlags(Flag.result(result, size) | (carry ? Flag.cf : 0) | (count == 1 && v & sign != 0 ? Flag.of : 0))
            return result
        default:
            let signed = Int64(bitPattern: signExtend(v, from: size))
            let n = min(count, bits - 1)
            result = UInt64(bitPattern: signed >> Int64(n)) & mask
            carry = (UInt64(bitPattern: signed >> Int64(min(count - 1, 63))) & 1) != 0
            setArithmeticFlags(Flag.result(result, size) | (carry ? Flag.cf : 0))
            return result
        }
    }

    /// MUL, IMUL, DIV, IDIV of the accumulator (F6/F7 /4-/7).
    func multiplyOrDivide(_ operation: Int, _ source: UInt64, size: Int) throws {
        let bits = UInt64(size * 8), mask = Flag.mask(size)
        let a = size == 1 ? gpr[0] & 0xFF : gpr[0] & mask
        let d = size == 1 ? (gpr[0] >> 8) & 0xFF : gpr[2] & mask
        func store(low: UInt64, high: UInt64) {
            if size == 1 {
                setRegister(0, size: 2, (high & 0xFF) << 8 | (low & 0xFF))
            } else {
                setRegister(0, size: size, low)
                setRegister(2, size: size, high)
            }
        }
        switch operation {
        case 4:
            let (high, low) = size == 8 ? a.multipliedFullWidth(by: source) : (0, a &* (source & mask))
            let h = size == 8 ? high : low >> bits, l = low & mask
            store(low: l, high: h)
            setArithmeticFlags(h != 0 ? Flag.cf | Flag.of : 0, mask: Flag.cf | Flag.of)
        case 5:
            let x = Int64(bitPattern: signExtend(a, from: size)), y = Int64(bitPattern: signExtend(source, from: size))
            let (high, low) = x.multipliedFullWidth(by: y)
            let l = low & mask
            let h = size == 8 ? UInt64(bitPattern: high) : UInt64(bitPattern: Int64(bitPattern: low) >> Int64(bits)) & mask
            store(low: l, high: h)
            let fits = signExtend(l, from: size) == (size == 8 ? low : UInt64(bitPattern: x &* y))
                && (size < 8 || high == (Int64(bitPattern: low) < 0 ? -1 : 0))
            setArithmeticFlags(fits ? 0 : Flag.cf | Flag.of, mask: Flag.cf | Flag.of)
        case 6:
            let divisor = source & mask
            guard divisor != 0 else { throw CPUFault.de }
            let (q, r): (UInt64, UInt64)
            if size == 8 {
                guard d < divisor else { throw CPUFault.de }
                (q, r) = divisor.dividingFullWidth((d, a))
            } else {
                let dividend = d << bits | a
                guard dividend / divisor <= mask else { throw CPUFault.de }
                (q, r) = (dividend / divisor, dividend % divisor)
            }
            store(low: q, high: r)
        default:
            let divisor = Int64(bitPattern: signExtend(source, from: size))
            guard divisor != 0 else { throw CPUFault.de }
            let (q, r): (Int64, Int64)
            let dividend = Int128(Int64(bitPattern: signExtend(size == 8 ? d : d << bits | a, from: min(8, size * 2))))
                << (size == 8 ? 64 : 0) | (size == 8 ? Int128(a) : 0)
            // RDX:RAX = -2^127 divided by -1 overflows even Int128 (a host trap): that quotient is #DE like any other
            // that does not fit.
            let (quotient, overflow) = dividend.dividedReportingOverflow(by: Int128(divisor))
            guard !overflow else { throw CPUFault.de }
            let limit = Int128(1) << Int128(bits - 1)
            guard quotient >= -limit && quotient < limit else { throw CPUFault.de }
            (q, r) = (Int64(quotient), Int64(dividend % Int128(divisor)))
            store(low: UInt64(bitPattern: q) & mask, high: UInt64(bitPattern: r) & mask)
        }
    }
}
