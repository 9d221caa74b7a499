import ApusCore
import CHostFPU

/// The conversions between MMX registers and XMM lanes (0F 2A/2C/2D without a prefix or with 66): CVTPI2PS,
/// CVTPI2PD, CVT(T)PS2PI and CVT(T)PD2PI. An MMX register operand (source or destination) switches the x87 unit to
/// MMX mode, as any MMX instruction does; a pending x87 exception is raised first (#MF).
extension CPUCore {
    static func isMMXConversion(_ op: Int, prefix: Int) -> Bool {
        (prefix == 0 || prefix == 0x66) && (op == 0x2A || op == 0x2C || op == 0x2D)
    }

    func mmxConvert(_ i: inout Instruction, _ op: Int, prefix: Int, reg: Int, _ operand: Operand) throws {
        var flags: UInt32 = 0
        let double = prefix == 0x66
        if op == 0x2A {                                          // CVTPI2PS / CVTPI2PD xmm, mm/m64
            let source: UInt64
            if case .register(let index) = operand {
                try enterMMXConversion()
                source = mm(index & 7)
            } else {
                source = try read(operand, size: 8, i)
            }
            let conversion = double ? APUS_CVT_INT32_TO_DOUBLE : APUS_CVT_INT32_TO_SINGLE
            let low = convertLane(conversion, source & 0xFFFF_FFFF, flags: &flags)
            let high = convertLane(conversion, source >> 32, flags: &flags)
            try commitFlags(flags)
            setXMM(reg, double ? (low, high) : (low | high << 32, xmm(reg).high))
            return
        }
        // CVT(T)PS2PI mm, xmm/m64; CVT(T)PD2PI mm, xmm/m128 (aligned).
        let source = double ? try vector(operand, i, aligned: true)
            : try floatSource(operand, i, single: false, scalar: true)
        try enterMMXConversion()
        let truncate = op == 0x2C
        let conversion = double ? (truncate ? APUS_CVTT_DOUBLE_TO_INT32 : APUS_CVT_DOUBLE_TO_INT32)
            : (truncate ? APUS_CVTT_SINGLE_TO_INT32 : APUS_CVT_SINGLE_TO_INT32)
        let low = convertLane(conversion, double ? source.low : source.low & 0xFFFF_FFFF, flags: &flags)
        let high = convertLane(conversion, double ? source.high : source.low >> 32, flags: &flags)
        try commitFlags(flags)
        setMM(reg & 7, (low & 0xFFFF_FFFF) | (high & 0xFFFF_FFFF) << 32)
    }

    /// A pending x87 exception first (#MF), then the switch to MMX mode.
    private func enterMMXConversion() throws {
        if fpu.fxsave[2] & 0x80 != 0 { throw CPUFault(vector: .floatingPointError, errorCode: nil) }
        enterMMXMode()
    }
}
