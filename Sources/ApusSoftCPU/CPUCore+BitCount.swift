import ApusCore

/// LZCNT (F3 0F BD, CPUID 8000_0001h:ECX.ABM) and TZCNT (F3 0F BC, BMI1): the count of leading or trailing zero
/// bits within the operand size, the size itself for a zero source. CF says the source was zero, ZF the count is.
/// On a model that advertises neither, F3 0F BC/BD stay BSF/BSR as on older processors (the F3 is ignored there).
extension CPUCore {
    func countZeros(_ i: inout Instruction, leading: Bool) throws {
        let (modrm, operand) = try decodeModRM(&i)
        let size = i.operandSize, bits = size * 8
        let value = try read(operand, size: size, i)
        let count = value == 0 ? bits : (leading ? value.leadingZeroBitCount - (64 - bits) : value.trailingZeroBitCount)
        setRegister(modrm.reg, size: size, UInt64(count))
        // OF, SF, PF and AF are undefined (SDM); they are cleared here.
        setArithmeticFlags((value == 0 ? Flag.cf : 0) | (count == 0 ? Flag.zf : 0))
    }
}
