/// Stack and control-transfer helpers shared by CALL, RET, PUSH, POP, interrupts and far jumps.
extension CPUCore {
    /// Width of the stack pointer: RSP in 64-bit code, ESP or SP by SS.B otherwise.
    var stackAddressMask: UInt64 { is64BitCode ? .max : (sregs.ss.db ? 0xFFFF_FFFF : 0xFFFF) }

    func push(_ value: UInt64, size: Int) throws {
        let mask = stackAddressMask
        let sp = (gpr[4] &- UInt64(size)) & mask
        try write(.ss, sp, size: size, value)
        gpr[4] = (gpr[4] & ~mask) | sp
    }

    func pop(size: Int) throws -> UInt64 {
        let mask = stackAddressMask
        let value = try read(.ss, gpr[4] & mask, size: size)
        gpr[4] = (gpr[4] & ~mask) | ((gpr[4] &+ UInt64(size)) & mask)
        return value
    }

    /// Stack operand size: 8 in 64-bit code unless 66h asks for 2.
    @inline(__always)
    func stackSize(_ i: Instruction) -> Int {
        is64BitCode ? (i.operandSizePrefix ? 2 : 8) : i.operandSize
    }

    /// A near branch to a non-canonical address faults (#GP(0)) on the branch itself, before it pushes anything.
    @inline(__always)
    func branchTarget(_ target: UInt64) throws -> UInt64 {
        guard !is64BitCode || isCanonical(target) else { throw CPUFault.gp() }
        return target
    }

    /// Instruction pointer after a relative jump, wrapped to the operand size as the SDM requires.
    @inline(__always)
    func relativeTarget(_ i: Instruction, _ displacement: UInt64) -> UInt64 {
        let target = i.ip &+ displacement
        if is64BitCode { return target }
        return i.operandSize == 2 ? target & 0xFFFF : target & 0xFFFF_FFFF
    }
}
