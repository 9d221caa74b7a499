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

    /// Stack operand size: 8 in 64-bit code unless 66h asks for 2 (REX.W wins over 66h).
    @inline(__always)
    func stackSize(_ i: Instruction) -> Int {
        is64BitCode ? (i.operandSizePrefix && !i.rexW ? 2 : 8) : i.operandSize
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

extension CPUCore {
    /// ENTER size, level: push rBP, copy `level - 1` outer frame pointers, push the new frame pointer, then reserve
    /// `size` bytes. A fault restores RSP and RBP so the instruction restarts cleanly.
    func enter(_ i: inout Instruction) throws {
        let allocation = try fetch(&i, size: 2)
        let level = try fetch8(&i) & 31
        let width = stackSize(i)
        let mask = stackAddressMask
        let savedRSP = gpr[4], savedRBP = gpr[5]
        do {
            try push(gpr[5], size: width)
            let frame = gpr[4] & mask
            if level > 0 {
                var outer = gpr[5]
                for _ in 1..<level {
                    outer = (outer & ~mask) | ((outer &- UInt64(width)) & mask)
                    try push(try read(.ss, outer & mask, size: width), size: width)
                }
                try push(frame, size: width)
            }
            let reserved = (gpr[4] &- allocation) & mask
            // Hardware probes a write at the final stack pointer, so a bad size faults here rather than later.
            if reserved != gpr[4] & mask { _ = try translate(linear(.ss, reserved), access: .write) }
            setRegister(5, size: width, frame)
            gpr[4] = (gpr[4] & ~mask) | reserved
        } catch {
            gpr[4] = savedRSP
            gpr[5] = savedRBP
            throw error
        }
    }
}
