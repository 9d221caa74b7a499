import ApusCore

/// The x87/SSE state instructions Linux and glibc need at start-up: FXSAVE, FXRSTOR, LDMXCSR, STMXCSR, and the x87
/// control/status forms (FNINIT, FNSTSW, FNSTCW, FLDCW). The state lives in `fpu`, in the FXSAVE layout.
/// x87 and SSE arithmetic are not implemented yet: they raise #UD, which the log names.
extension CPUCore {
    /// 0F AE /0-/3 with a memory operand.
    func floatingPointState(_ kind: Int, _ operand: Operand, _ i: Instruction) throws {
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
                for index in 0..<Self.fxsaveWrittenBytes {
                    try write(segment, offset &+ UInt64(index), size: 1, UInt64(image[index]))
                }
            } else {
                var area = [UInt8](repeating: 0, count: FPUState.size)
                for index in 0..<FPUState.size {
                    area[index] = UInt8(try read(segment, offset &+ UInt64(index), size: 1))
                }
                let restored = FPUState(fxsave: area)
                guard restored.mxcsr & ~Self.mxcsrMask == 0 else { throw CPUFault.gp() }
                fpu = restored
            }
        case 2:
            let value = UInt32(try read(segment, offset, size: 4))
            guard value & ~Self.mxcsrMask == 0 else { throw CPUFault.gp() }
            fpu.mxcsr = value
        default:
            try write(segment, offset, size: 4, UInt64(fpu.mxcsr))
        }
    }

    static let fxsaveWrittenBytes = 416

    /// MXCSR bits this CPU implements (FXSAVE reports the same mask at offset 28).
    static let mxcsrMask: UInt32 = 0xFFFF

    /// x87 escape opcodes D8-DF: the control and status forms only.
    func x87(_ i: inout Instruction, _ opcode: Int) throws {
        try checkFloatingPointAvailable()
        let next = try read(.cs, i.ip, size: 1, access: .fetch)
        switch (opcode, next) {
        case (0xDB, 0xE3):                                    // FNINIT
            _ = try fetch8(&i)
            var state = fpu
            state.controlWord = 0x037F
            for index in 2..<24 { state.fxsave[index] = 0 }  // FSW, tag word, FOP, FIP, FDP
            fpu = state
        case (0xDB, 0xE2):                                    // FNCLEX
            _ = try fetch8(&i)
            fpu.fxsave[2] = 0
            fpu.fxsave[3] &= 0x7F
        case (0xDF, 0xE0):                                    // FNSTSW AX
            _ = try fetch8(&i)
            setRegister(0, size: 2, UInt64(fpu.fxsave[2]) | UInt64(fpu.fxsave[3]) << 8)
        default:
            let (modrm, operand) = try decodeModRM(&i)
            guard modrm.mod != 3 else { throw CPUFault.ud }
            let (segment, offset) = try effectiveOffset(operand, i)
            switch (opcode, modrm.reg & 7) {
            case (0xD9, 7): try write(segment, offset, size: 2, UInt64(fpu.controlWord))      // FNSTCW
            case (0xD9, 5): fpu.controlWord = UInt16(try read(segment, offset, size: 2))     // FLDCW
            case (0xDD, 7): try write(segment, offset, size: 2, UInt64(fpu.fxsave[2]) | UInt64(fpu.fxsave[3]) << 8)  // FNSTSW
            default: throw CPUFault.ud
            }
        }
    }

    /// CR0.EM makes x87/SSE state instructions #UD; CR0.TS makes them #NM (lazy FPU switching).
    private func checkFloatingPointAvailable() throws {
        if sregs.cr0 & ControlRegister.cr0EM != 0 { throw CPUFault.ud }
        if sregs.cr0 & ControlRegister.cr0TS != 0 { throw CPUFault(vector: .deviceNotAvailable, errorCode: nil) }
    }
}
