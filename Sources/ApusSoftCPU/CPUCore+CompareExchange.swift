import ApusCore
import CGuestAtomics

/// CMPXCHG8B and CMPXCHG16B (0F C7 /1): compare rDX:rAX with the memory operand; equal stores rCX:rBX, otherwise
/// the operand is loaded into rDX:rAX. Only ZF changes. On RAM within one page the compare and the store are one host
/// LOCK CMPXCHG(16B) (with or without a LOCK prefix: stronger than required, never weaker), so other vCPUs see it
/// atomic; otherwise (MMIO, a CMPXCHG8B split across pages) it is two reads and two writes.
extension CPUCore {
    func compareExchangeWide(_ i: inout Instruction, _ operand: Operand) throws {
        guard case .memory = operand else { throw CPUFault.ud }
        let wide = i.rexW
        let (segment, offset) = try effectiveOffset(operand, i)
        let half = wide ? 8 : 4
        if wide && linear(segment, offset) & 0xF != 0 { throw CPUFault.gp() }
        // Both halves must be writable before either is read or written, so a fault changes nothing.
        let first = linear(segment, offset)
        try checkCanonical(first, segment)
        let physical = try translate(first, access: .write)
        _ = try translate(first &+ UInt64(2 * half - 1), access: .write)
        let mask = Flag.mask(half)
        if (first & 0xFFF) + UInt64(2 * half) <= 0x1000, let (host, page) = ram.locate(physical, length: 2 * half) {
            var low = gpr[0] & mask, high = gpr[2] & mask
            let stored: Bool
            if wide {
                stored = guest_cas128(host, &low, &high, gpr[3], gpr[1])
            } else {
                let expected = high << 32 | low
                let seen = guest_cmpxchg64(host, expected, (gpr[1] & mask) << 32 | gpr[3] & mask)
                stored = seen == expected
                (low, high) = (seen & mask, seen >> 32)
            }
            if stored {
                self.stored(page: page)
                setArithmeticFlags(Flag.zf, mask: Flag.zf)
            } else {
                setRegister(0, size: half, low)
                setRegister(2, size: half, high)
                setArithmeticFlags(0, mask: Flag.zf)
            }
            return
        }
        let low = try read(segment, offset, size: half)
        let high = try read(segment, offset &+ UInt64(half), size: half)
        if low == gpr[0] & mask && high == gpr[2] & mask {
            try write(segment, offset, size: half, gpr[3] & mask)
            try write(segment, offset &+ UInt64(half), size: half, gpr[1] & mask)
            setArithmeticFlags(Flag.zf, mask: Flag.zf)
        } else {
            // The processor writes the old value back (a locked read-modify-write always writes).
            try write(segment, offset, size: half, low)
            try write(segment, offset &+ UInt64(half), size: half, high)
            setRegister(0, size: half, low)
            setRegister(2, size: half, high)
            setArithmeticFlags(0, mask: Flag.zf)
        }
    }
}
