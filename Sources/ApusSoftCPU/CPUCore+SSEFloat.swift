import ApusCore
import CHostFPU

/// SSE/SSE2 floating point: arithmetic, square roots and reciprocal estimates, compares (CMPcc, COMIS, UCOMIS) and
/// conversions, scalar (F3 single, F2 double) and packed (none single, 66 double). Each lane runs on the host's SSE
/// unit under the guest's MXCSR (CHostFPU), so results and flags are bit-exact; this file keeps the guest's registers
/// and MXCSR and decides what reaches them: the flags accumulate, and an unmasked exception leaves the destination
/// unchanged and raises #XM (or #UD without CR4.OSXMMEXCPT).
extension CPUCore {
    static func isSSEFloatOpcode(_ op: Int) -> Bool {
        switch op {
        case 0x2A, 0x2C, 0x2D, 0x2E, 0x2F, 0x51...0x53, 0x58...0x5F, 0xC2, 0xE6: return true
        default: return false
        }
    }

    func sseFloat(_ i: inout Instruction, _ op: Int, prefix: Int, reg: Int, _ operand: Operand) throws {
        let single = prefix == 0 || prefix == 0xF3
        let scalar = prefix == 0xF3 || prefix == 0xF2
        var flags: UInt32 = 0
        let result: Vector
        switch op {
        case 0x51, 0x52, 0x53, 0x58, 0x59, 0x5C...0x5F:
            guard op == 0x51 || op >= 0x58 || single else { throw CPUFault.ud }   // no double RCP/RSQRT
            let operation: Int32
            switch op {
            case 0x51: operation = Int32(APUS_SSE_SQRT.rawValue)
            case 0x52: operation = Int32(APUS_SSE_RSQRT.rawValue)
            case 0x53: operation = Int32(APUS_SSE_RCP.rawValue)
            case 0x58: operation = Int32(APUS_SSE_ADD.rawValue)
            case 0x59: operation = Int32(APUS_SSE_MUL.rawValue)
            case 0x5C: operation = Int32(APUS_SSE_SUB.rawValue)
            case 0x5D: operation = Int32(APUS_SSE_MIN.rawValue)
            case 0x5E: operation = Int32(APUS_SSE_DIV.rawValue)
            default: operation = Int32(APUS_SSE_MAX.rawValue)
            }
            let source = try floatSource(operand, i, single: single, scalar: scalar)
            result = lanes(xmm(reg), source, single: single, scalar: scalar, flags: &flags) { a, b, mxcsr, out in
                apus_sse_arithmetic(operation, single ? 1 : 0, a, b, mxcsr, out)
            }
        case 0xC2:
            let predicate = Int32(try fetch8(&i) & 7)
            let source = try floatSource(operand, i, single: single, scalar: scalar)
            result = lanes(xmm(reg), source, single: single, scalar: scalar, flags: &flags) { a, b, mxcsr, out in
                apus_sse_compare(predicate, single ? 1 : 0, a, b, mxcsr, out)
            }
        case 0x2E, 0x2F:
            // UCOMISS/COMISS (none), UCOMISD/COMISD (66): ZF, PF, CF from the compare; OF, SF, AF cleared.
            guard prefix == 0 || prefix == 0x66 else { throw CPUFault.ud }
            let source = try floatSource(operand, i, single: prefix == 0, scalar: true)
            var eflags: UInt64 = 0
            flags = apus_sse_ordered_compare(op == 0x2F ? 1 : 0, prefix == 0 ? 1 : 0, xmm(reg).low, source.low,
                                             fpu.mxcsr, &eflags)
            try commitFlags(flags)
            setArithmeticFlags(eflags)
            return
        default:
            try sseConvert(&i, op, prefix: prefix, reg: reg, operand)
            return
        }
        try commitFlags(flags)
        setXMM(reg, result)
    }

    /// The source operand: a register, or memory of the lane's size (scalar) or 16 aligned bytes (packed).
    func floatSource(_ operand: Operand, _ i: Instruction, single: Bool, scalar: Bool) throws -> Vector {
        guard scalar, case .memory = operand else { return try vector(operand, i, aligned: true) }
        return (try read(operand, size: single ? 4 : 8, i), 0)
    }

    /// Applies `operation` to the low lane (scalar; the rest of `a` passes through) or every lane, OR-ing the flags.
    func lanes(_ a: Vector, _ b: Vector, single: Bool, scalar: Bool, flags: inout UInt32,
               _ operation: (UInt64, UInt64, UInt32, UnsafeMutablePointer<UInt64>) -> UInt32) -> Vector {
        let mxcsr = fpu.mxcsr
        var out: UInt64 = 0
        if !single {
            flags |= operation(a.low, b.low, mxcsr, &out)
            let low = out
            if scalar { return (low, a.high) }
            flags |= operation(a.high, b.high, mxcsr, &out)
            return (low, out)
        }
        var result = a
        for lane in 0..<(scalar ? 1 : 4) {
            flags |= operation(dword(a, lane), dword(b, lane), mxcsr, &out)
            let shift = UInt64(32 * (lane & 1))
            if lane < 2 { result.low = (result.low & ~(0xFFFF_FFFF << shift)) | (out & 0xFFFF_FFFF) << shift }
            else { result.high = (result.high & ~(0xFFFF_FFFF << shift)) | (out & 0xFFFF_FFFF) << shift }
        }
        return result
    }

    /// Adds the raised exception flags to MXCSR; an unmasked one faults before anything else changes.
    func commitFlags(_ flags: UInt32) throws {
        let mxcsr = fpu.mxcsr
        if flags & mxcsr & 0x3F != flags { fpu.mxcsr = mxcsr | flags }
        let unmasked = flags & ~(mxcsr >> 7) & 0x3F
        guard unmasked == 0 else {
            if sregs.cr4 & ControlRegister.cr4OSXMMEXCPT == 0 { throw CPUFault.ud }
            throw CPUFault(vector: .simdFloatingPoint, errorCode: nil)
        }
    }
}
