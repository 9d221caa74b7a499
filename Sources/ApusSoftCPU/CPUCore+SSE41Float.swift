import ApusCore
import CHostFPU

/// SSE4.1's floating point: ROUNDPS/PD/SS/SD and DPPS/DPPD. The dot products multiply and add on the host's SSE unit
/// under the guest's MXCSR as the SSE arithmetic does (CPUCore+SSEFloat.swift). Rounding to an integral value is
/// exact, so it is computed here: the only exceptions it raises are invalid (a signaling NaN) and precision (an
/// inexact result, unless imm[3] suppresses it); DAZ turns a denormal source into a zero of its sign first.
extension CPUCore {
    /// 66 0F 3A 08-0B: imm[1:0] the rounding mode, imm[2] MXCSR.RC instead, imm[3] no precision exception.
    func roundFloat(_ i: Instruction, _ op: Int, reg: Int, _ operand: Operand, _ immediate: Int) throws {
        let single = op & 1 == 0, scalar = op >= 0x0A
        let source = try floatSource(operand, i, single: single, scalar: scalar)
        let mxcsr = fpu.mxcsr
        let mode = immediate & 4 != 0 ? Int(mxcsr >> 13) & 3 : immediate & 3
        let rounding: FloatingPointRoundingRule = [.toNearestOrEven, .down, .up, .towardZero][mode]
        let daz = mxcsr & 0x40 != 0, quiet = immediate & 8 != 0
        var flags: UInt32 = 0
        let result = lanes(scalar ? xmm(reg) : source, source, single: single, scalar: scalar, flags: &flags) { _, b, _, out in
            var raised: UInt32 = 0
            out.pointee = Self.roundToIntegral(b, single: single, rounding, daz: daz, quiet: quiet, flags: &raised)
            return raised
        }
        try commitFlags(flags)
        setXMM(reg, result)
    }

    static func roundToIntegral(_ bits: UInt64, single: Bool, _ rounding: FloatingPointRoundingRule, daz: Bool,
                                quiet: Bool, flags: inout UInt32) -> UInt64 {
        if single {
            var value = Float(bitPattern: UInt32(truncatingIfNeeded: bits))
            if value.isNaN {
                if value.isSignalingNaN { flags |= 1 }
                return UInt64(UInt32(truncatingIfNeeded: bits) | 0x40_0000)
            }
            if daz && value.isSubnormal { value = value.sign == .minus ? -0.0 : 0.0 }
            let result = value.rounded(rounding)
            if result != value && !quiet { flags |= 0x20 }
            return UInt64(result.bitPattern)
        }
        var value = Double(bitPattern: bits)
        if value.isNaN {
            if value.isSignalingNaN { flags |= 1 }
            return bits | 0x8_0000_0000_0000
        }
        if daz && value.isSubnormal { value = value.sign == .minus ? -0.0 : 0.0 }
        let result = value.rounded(rounding)
        if result != value && !quiet { flags |= 0x20 }
        return result.bitPattern
    }

    /// DPPS (66 0F 3A 40) and DPPD (41): the products of the lanes imm[7:4] selects (+0.0 for the others), summed in
    /// pairs as the SDM orders them, written to the lanes imm[3:0] selects (+0.0 elsewhere).
    func dotProduct(_ i: Instruction, single: Bool, reg: Int, _ operand: Operand, _ immediate: Int) throws {
        let a = xmm(reg), b = try vector(operand, i, aligned: true)
        let mxcsr = fpu.mxcsr
        var flags: UInt32 = 0
        func apply(_ operation: apus_sse_operation, _ x: UInt64, _ y: UInt64) -> UInt64 {
            var out: UInt64 = 0
            flags |= apus_sse_arithmetic(Int32(operation.rawValue), single ? 1 : 0, x, y, mxcsr, &out)
            return single ? out & 0xFFFF_FFFF : out
        }
        let result: Vector
        if single {
            let products = (0..<4).map { lane in
                immediate >> (4 + lane) & 1 != 0 ? apply(APUS_SSE_MUL, dword(a, lane), dword(b, lane)) : 0
            }
            let low = apply(APUS_SSE_ADD, products[0], products[1]), high = apply(APUS_SSE_ADD, products[2], products[3])
            let sum = apply(APUS_SSE_ADD, low, high)
            let out = (0..<4).map { immediate >> $0 & 1 != 0 ? sum : 0 }
            result = fromDwords(out[0], out[1], out[2], out[3])
        } else {
            let first = immediate & 0x10 != 0 ? apply(APUS_SSE_MUL, a.low, b.low) : 0
            let second = immediate & 0x20 != 0 ? apply(APUS_SSE_MUL, a.high, b.high) : 0
            let sum = apply(APUS_SSE_ADD, first, second)
            result = (immediate & 1 != 0 ? sum : 0, immediate & 2 != 0 ? sum : 0)
        }
        try commitFlags(flags)
        setXMM(reg, result)
    }
}
