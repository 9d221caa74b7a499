import ApusCore

/// BMI1 (ANDN, BEXTR, BLSI, BLSMSK, BLSR; TZCNT is in CPUCore+BitCount.swift) and BMI2 (BZHI, MULX, PDEP, PEXT,
/// RORX, SARX, SHLX, SHRX): VEX-encoded general-register instructions, 32-bit or 64-bit (VEX.W in 64-bit mode),
/// VEX.L must be 0. Flags the SDM leaves undefined (AF and PF; SF too for BEXTR) are cleared here.
extension CPUCore {
    func bitManipulation(_ i: inout Instruction, _ opcode: Int, _ vex: VEXFields) throws {
        let key = vex.map << 12 | vex.impliedPrefix << 8 | opcode
        let feature: InstructionFeature
        switch key {
        case 0x2_0_F2, 0x2_0_F3, 0x2_0_F7: feature = .bmi1
        case 0x2_0_F5, 0x2_3_F5, 0x2_2_F5, 0x2_3_F6, 0x2_2_F7, 0x2_1_F7, 0x2_3_F7, 0x3_3_F0: feature = .bmi2
        default: throw notImplemented(0xC400_0000 | UInt64(key), i)   // AVX and the rest: not advertised
        }
        guard model.advertises(feature) else { throw notImplemented(0xC400_0000 | UInt64(key), i) }
        guard !vex.long else { throw CPUFault.ud }
        let (modrm, operand) = try decodeModRM(&i)
        let size = i.operandSize, bits = UInt64(size * 8), mask = Flag.mask(size)
        let signBit: UInt64 = 1 << (bits - 1)
        func resultFlags(_ value: UInt64) -> UInt64 {
            (value & mask == 0 ? Flag.zf : 0) | (value & signBit != 0 ? Flag.sf : 0)
        }
        switch key {
        case 0x2_0_F2:   // ANDN Gy, By, Ey
            let result = ~register(vex.vvvv, size: size) & (try read(operand, size: size, i)) & mask
            setRegister(modrm.reg, size: size, result)
            setArithmeticFlags(resultFlags(result))
        case 0x2_0_F3:   // group 17: BLSR /1, BLSMSK /2, BLSI /3 By, Ey
            let source = try read(operand, size: size, i)
            let result: UInt64
            var flags: UInt64
            switch modrm.reg & 7 {
            case 1: result = source & (source &- 1) & mask; flags = resultFlags(result) | (source == 0 ? Flag.cf : 0)
            case 2: result = (source ^ (source &- 1)) & mask; flags = resultFlags(result) & ~Flag.zf | (source == 0 ? Flag.cf : 0)
            case 3: result = source & (0 &- source) & mask; flags = resultFlags(result) | (source != 0 ? Flag.cf : 0)
            default: throw CPUFault.ud
            }
            setRegister(vex.vvvv, size: size, result)
            setArithmeticFlags(flags)
        case 0x2_0_F7:   // BEXTR Gy, Ey, By: LEN bits from START (By[15:8], By[7:0])
            let source = try read(operand, size: size, i), control = register(vex.vvvv, size: size)
            let start = control & 0xFF, length = control >> 8 & 0xFF
            var result = start >= bits ? 0 : source >> start
            if length < 64 { result &= (1 << length) - 1 }
            setRegister(modrm.reg, size: size, result)
            setArithmeticFlags(result == 0 ? Flag.zf : 0)
        case 0x2_0_F5:   // BZHI Gy, Ey, By: bits from By[7:0] up cleared; CF when the index is past the top bit
            let source = try read(operand, size: size, i), index = register(vex.vvvv, size: size) & 0xFF
            let result = index < bits ? source & ((1 << index) - 1) : source
            setRegister(modrm.reg, size: size, result)
            setArithmeticFlags(resultFlags(result) | (index > bits - 1 ? Flag.cf : 0))
        case 0x2_3_F5, 0x2_2_F5:   // PDEP, PEXT Gy, By, Ey (the mask)
            let source = register(vex.vvvv, size: size), selector = try read(operand, size: size, i)
            let deposit = key == 0x2_3_F5
            var result: UInt64 = 0, at: UInt64 = 0
            for bit in 0..<bits where selector >> bit & 1 != 0 {
                if deposit { result |= (source >> at & 1) << bit } else { result |= (source >> bit & 1) << at }
                at += 1
            }
            setRegister(modrm.reg, size: size, result)
        case 0x2_3_F6:   // MULX Gy (high), By (low), Ey: EDX/RDX times the source, flags untouched
            let a = register(2, size: size), b = try read(operand, size: size, i)
            let (high, low) = size == 8 ? a.multipliedFullWidth(by: b) : ((a * b) >> 32, (a * b) & 0xFFFF_FFFF)
            setRegister(vex.vvvv, size: size, low)
            setRegister(modrm.reg, size: size, high)   // written last: it wins when both name one register
        case 0x2_2_F7, 0x2_1_F7, 0x2_3_F7:   // SARX (F3), SHLX (66), SHRX (F2) Gy, Ey, By: flags untouched
            let source = try read(operand, size: size, i), count = register(vex.vvvv, size: size) & (bits - 1)
            let result: UInt64
            switch vex.impliedPrefix {
            case 2: result = UInt64(bitPattern: Int64(bitPattern: signExtend(source, from: size)) >> Int64(count))
            case 1: result = source << count
            default: result = source >> count
            }
            setRegister(modrm.reg, size: size, result & mask)
        default:         // RORX Gy, Ey, Ib (no vvvv operand: it must be 1111b)
            guard vex.vvvv == 0 else { throw CPUFault.ud }
            let count = try fetch8(&i) & (bits - 1)   // before the read: RIP-relative counts from the end
            let source = try read(operand, size: size, i)
            let result = count == 0 ? source : (source >> count | source << (bits - count)) & mask
            setRegister(modrm.reg, size: size, result)
        }
    }
}
