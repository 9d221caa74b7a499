import ApusCore
import CHostFPU

/// SSE3 on XMM registers: the alternating and horizontal float arithmetic (ADDSUBPS/PD, HADDPS/PD, HSUBPS/PD),
/// the duplicating moves (MOVSLDUP, MOVSHDUP, MOVDDUP) and LDDQU. Each lane's add or subtract runs on the host's SSE
/// unit under the guest's MXCSR as the SSE/SSE2 arithmetic does (CPUCore+SSEFloat.swift), so rounding, DAZ/FTZ and
/// the exception flags are those of the same operation in hardware. FISTTP is with the x87 stores.
extension CPUCore {
    /// 0F 7C/7D (66 PD, F2 PS) and 0F D0 (66 PD, F2 PS); every other prefix is #UD.
    func sse3Arithmetic(_ i: Instruction, _ op: Int, prefix: Int, reg: Int, _ operand: Operand) throws {
        guard model.advertises(.sse3), prefix == 0x66 || prefix == 0xF2 else { throw CPUFault.ud }
        let single = prefix == 0xF2
        let a = xmm(reg), b = try vector(operand, i, aligned: true)
        var flags: UInt32 = 0
        func lane(_ x: UInt64, _ y: UInt64, add: Bool) -> UInt64 {
            var out: UInt64 = 0
            let operation = Int32(add ? APUS_SSE_ADD.rawValue : APUS_SSE_SUB.rawValue)
            flags |= apus_sse_arithmetic(operation, single ? 1 : 0, x, y, fpu.mxcsr, &out)
            return single ? out & 0xFFFF_FFFF : out
        }
        let result: Vector
        switch (op, single) {
        case (0xD0, false):   // ADDSUBPD: subtract in the low lane, add in the high one
            result = (lane(a.low, b.low, add: false), lane(a.high, b.high, add: true))
        case (0xD0, true):    // ADDSUBPS: subtract in the even lanes, add in the odd ones
            result = fromDwords(lane(dword(a, 0), dword(b, 0), add: false), lane(dword(a, 1), dword(b, 1), add: true),
                                lane(dword(a, 2), dword(b, 2), add: false), lane(dword(a, 3), dword(b, 3), add: true))
        case (_, false):      // HADDPD, HSUBPD: the destination's pair, then the source's
            let add = op == 0x7C
            result = (lane(a.low, a.high, add: add), lane(b.low, b.high, add: add))
        default:              // HADDPS, HSUBPS: adjacent pairs of the destination, then of the source
            let add = op == 0x7C
            result = fromDwords(lane(dword(a, 0), dword(a, 1), add: add), lane(dword(a, 2), dword(a, 3), add: add),
                                lane(dword(b, 0), dword(b, 1), add: add), lane(dword(b, 2), dword(b, 3), add: add))
        }
        try commitFlags(flags)
        setXMM(reg, result)
    }

    /// MOVSLDUP (F3 0F 12), MOVSHDUP (F3 0F 16), MOVDDUP (F2 0F 12) and LDDQU (F2 0F F0, memory only, unaligned).
    func sse3Move(_ i: Instruction, _ op: Int, prefix: Int, reg: Int, _ operand: Operand) throws {
        guard model.advertises(.sse3) else { throw CPUFault.ud }
        switch (prefix, op) {
        case (0xF3, 0x12), (0xF3, 0x16):
            let source = try vector(operand, i, aligned: true)
            let odd = op == 0x16 ? 1 : 0
            let low = dword(source, odd), high = dword(source, 2 + odd)
            setXMM(reg, fromDwords(low, low, high, high))
        case (0xF2, 0x12):
            let value = try quadword(operand, i)   // 8 bytes from memory, no alignment
            setXMM(reg, (value, value))
        case (0xF2, 0xF0):
            guard case .memory = operand else { throw CPUFault.ud }
            setXMM(reg, try vector(operand, i, aligned: false))
        default:
            throw CPUFault.ud
        }
    }
}
