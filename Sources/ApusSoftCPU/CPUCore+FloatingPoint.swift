import ApusCore

/// The x87/SSE state instructions: FXSAVE, FXRSTOR, LDMXCSR, STMXCSR. The state lives in `fpu`, in the FXSAVE
/// layout; the x87 instructions are in CPUCore+X87*.swift, SSE in CPUCore+SSE*.swift.
extension CPUCore {
    /// 0F AE /0-/3 with a memory operand.
    func floatingPointState(_ kind: Int, _ operand: Operand, _ i: Instruction) throws {
        if kind == 7 {
            // CLFLUSH: there is no cache to flush; the line's address is only checked, as for a read (no device
            // read: an MMIO line must not see one).
            let (segment, offset) = try effectiveOffset(operand, i)
            let address = linear(segment, offset)
            try checkCanonical(address, segment)
            _ = try translate(address, access: .read)
            return
        }
        guard kind <= 3 else { throw notImplemented(0x1AE, i) }   // XSAVE, XRSTOR, XSAVEOPT: the model has no XSAVE
        try checkFloatingPointAvailable()
        let (segment, offset) = try effectiveOffset(operand, i)
        switch kind {
        case 0, 1:
            guard offset & 0xF == 0 else { throw CPUFault.gp() }
            if kind == 0 {
                // Bytes 416-463 are reserved and 464-511 belong to software: hardware writes neither (seen at CPL3
                // on KVM). Offset 28 reports MXCSR_MASK.
                var image = fpu.fxsave
                for index in 0..<4 { image[28 + index] = UInt8(truncatingIfNeeded: Self.mxcsrMask >> (8 * UInt32(index))) }
                // Without REX.W the pointers are 32 bits wide, followed by FCS and FDS, which this CPU stores as zero.
                if !i.rexW { for index in [12, 13, 14, 15, 20, 21, 22, 23] { image[index] = 0 } }
                for index in 0..<Self.fxsaveWrittenBytes {
                    try write(segment, offset &+ UInt64(index), size: 1, UInt64(image[index]))
                }
            } else {
                var area = [UInt8](repeating: 0, count: FPUState.size)
                for index in 0..<FPUState.size {
                    area[index] = UInt8(try read(segment, offset &+ UInt64(index), size: 1))
                }
                if !i.rexW { for index in [12, 13, 14, 15, 20, 21, 22, 23] { area[index] = 0 } }
                let restored = FPUState(fxsave: area)
                guard restored.mxcsr & ~Self.mxcsrMask == 0 else { throw CPUFault.gp() }
                fpu = restored
            }
        case 2:
            let value = UInt32(try read(segment, offset, size: 4))
            guard value & ~Self.mxcsrMask == 0 else { throw CPUFault.gp() }
            fpu.mxcsr = value
        default:                                                     // STMXCSR
            try write(segment, offset, size: 4, UInt64(fpu.mxcsr))
        }
    }

    static let fxsaveWrittenBytes = 416

    /// MXCSR bits this CPU implements (FXSAVE reports the same mask at offset 28).
    static let mxcsrMask: UInt32 = 0xFFFF

    /// CR0.EM makes x87/SSE state instructions #UD; CR0.TS makes them #NM (lazy FPU switching).
    private func checkFloatingPointAvailable() throws {
        if sregs.cr0 & ControlRegister.cr0EM != 0 { throw CPUFault.ud }
        if sregs.cr0 & ControlRegister.cr0TS != 0 { throw CPUFault(vector: .deviceNotAvailable, errorCode: nil) }
    }
}
