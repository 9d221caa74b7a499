import ApusCore

/// CMPXCHG8B and CMPXCHG16B (0F C7 /1): compare rDX:rAX with the memory operand; equal stores rCX:rBX, otherwise
/// the operand is loaded into rDX:rAX. Only ZF changes. One vCPU executes at a time, so LOCK needs nothing more.
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
        _ = try translate(first, access: .write)
        _ = try translate(first &+ UInt64(2 * half - 1), access: .write)
        let low = try read(segment, offset, size: half)
        let high = try read(segment, offset &+ UInt64(half), size: half)
        let mask = Flag.mask(half)
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
