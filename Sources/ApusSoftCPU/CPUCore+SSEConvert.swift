import ApusCore
import CHostFPU

/// SSE/SSE2 conversions between integers, singles and doubles (0F 2A, 2C, 2D, 5A, 5B, E6), lane by lane on the
/// host's SSE unit under the guest's MXCSR. The MMX forms are in CPUCore+SSEConvertMMX.swift.
extension CPUCore {
    func sseConvert(_ i: inout Instruction, _ op: Int, prefix: Int, reg: Int, _ operand: Operand) throws {
        if Self.isMMXConversion(op, prefix: prefix) { return try mmxConvert(&i, op, prefix: prefix, reg: reg, operand) }
        var flags: UInt32 = 0
        func convert(_ conversion: apus_sse_conversion, _ value: UInt64) -> UInt64 {
            convertLane(conversion, value, flags: &flags)
        }
        let destination = xmm(reg)
        switch (prefix, op) {
        case (0xF3, 0x2A), (0xF2, 0x2A):                         // CVTSI2SS / CVTSI2SD xmm, r/m32/64
            let wide = i.rexW
            let value = try read(operand, size: wide ? 8 : 4, i)
            if prefix == 0xF3 {
                let single = convert(wide ? APUS_CVT_INT64_TO_SINGLE : APUS_CVT_INT32_TO_SINGLE, value)
                try commitFlags(flags)
                setXMM(reg, ((destination.low & ~0xFFFF_FFFF) | single, destination.high))
            } else {
                let double = convert(wide ? APUS_CVT_INT64_TO_DOUBLE : APUS_CVT_INT32_TO_DOUBLE, value)
                try commitFlags(flags)
                setXMM(reg, (double, destination.high))
            }
        case (0xF3, 0x2C), (0xF3, 0x2D), (0xF2, 0x2C), (0xF2, 0x2D):   // CVT(T)SS2SI / CVT(T)SD2SI r32/64, xmm/m
            let single = prefix == 0xF3, truncate = op == 0x2C, wide = i.rexW
            let source = try floatSource(operand, i, single: single, scalar: true).low
            let conversion: apus_sse_conversion
            switch (single, truncate, wide) {
            case (true, true, false): conversion = APUS_CVTT_SINGLE_TO_INT32
            case (true, true, true): conversion = APUS_CVTT_SINGLE_TO_INT64
            case (true, false, false): conversion = APUS_CVT_SINGLE_TO_INT32
            case (true, false, true): conversion = APUS_CVT_SINGLE_TO_INT64
            case (false, true, false): conversion = APUS_CVTT_DOUBLE_TO_INT32
            case (false, true, true): conversion = APUS_CVTT_DOUBLE_TO_INT64
            case (false, false, false): conversion = APUS_CVT_DOUBLE_TO_INT32
            case (false, false, true): conversion = APUS_CVT_DOUBLE_TO_INT64
            }
            let value = convert(conversion, source)
            try commitFlags(flags)
            setRegister(reg, size: wide ? 8 : 4, value)
        case (0xF3, 0x5A):                                       // CVTSS2SD xmm, xmm/m32
            let value = convert(APUS_CVT_SINGLE_TO_DOUBLE, try floatSource(operand, i, single: true, scalar: true).low)
            try commitFlags(flags)
            setXMM(reg, (value, destination.high))
        case (0xF2, 0x5A):                                       // CVTSD2SS xmm, xmm/m64
            let value = convert(APUS_CVT_DOUBLE_TO_SINGLE, try floatSource(operand, i, single: false, scalar: true).low)
            try commitFlags(flags)
            setXMM(reg, ((destination.low & ~0xFFFF_FFFF) | value, destination.high))
        case (0, 0x5A):                                          // CVTPS2PD xmm, xmm/m64
            let source = try floatSource(operand, i, single: false, scalar: true).low
            let low = convert(APUS_CVT_SINGLE_TO_DOUBLE, source & 0xFFFF_FFFF)
            let high = convert(APUS_CVT_SINGLE_TO_DOUBLE, source >> 32)
            try commitFlags(flags)
            setXMM(reg, (low, high))
        case (0x66, 0x5A):                                       // CVTPD2PS xmm, xmm/m128
            let source = try vector(operand, i, aligned: true)
            let low = convert(APUS_CVT_DOUBLE_TO_SINGLE, source.low)
            let high = convert(APUS_CVT_DOUBLE_TO_SINGLE, source.high)
            try commitFlags(flags)
            setXMM(reg, (low | high << 32, 0))
        case (0, 0x5B), (0x66, 0x5B), (0xF3, 0x5B):              // CVTDQ2PS, CVTPS2DQ, CVTTPS2DQ
            let source = try vector(operand, i, aligned: true)
            let conversion = prefix == 0 ? APUS_CVT_INT32_TO_SINGLE
                : prefix == 0x66 ? APUS_CVT_SINGLE_TO_INT32 : APUS_CVTT_SINGLE_TO_INT32
            let lanes = (0..<4).map { convert(conversion, dword(source, $0)) }
            try commitFlags(flags)
            setXMM(reg, fromDwords(lanes[0], lanes[1], lanes[2], lanes[3]))
        case (0x66, 0xE6), (0xF2, 0xE6):                         // CVTTPD2DQ, CVTPD2DQ
            let source = try vector(operand, i, aligned: true)
            let conversion = prefix == 0x66 ? APUS_CVTT_DOUBLE_TO_INT32 : APUS_CVT_DOUBLE_TO_INT32
            let low = convert(conversion, source.low), high = convert(conversion, source.high)
            try commitFlags(flags)
            setXMM(reg, ((low & 0xFFFF_FFFF) | (high & 0xFFFF_FFFF) << 32, 0))
        case (0xF3, 0xE6):                                       // CVTDQ2PD xmm, xmm/m64
            let source = try floatSource(operand, i, single: false, scalar: true).low
            let low = convert(APUS_CVT_INT32_TO_DOUBLE, source & 0xFFFF_FFFF)
            let high = convert(APUS_CVT_INT32_TO_DOUBLE, source >> 32)
            try commitFlags(flags)
            setXMM(reg, (low, high))
        default:
            throw CPUFault.ud
        }
    }

    /// One lane through the host's SSE unit under the guest's MXCSR; the exception flags it raises accumulate in
    /// `flags`, committed (or raised) once every lane is done.
    @inline(__always)
    func convertLane(_ conversion: apus_sse_conversion, _ value: UInt64, flags: inout UInt32) -> UInt64 {
        var out: UInt64 = 0
        flags |= apus_sse_convert(Int32(conversion.rawValue), value, fpu.mxcsr, &out)
        return out
    }
}
