import ApusCore

/// 0F-map instructions outside the hot switch: PUSH/POP FS/GS, LSS/LFS/LGS, the register forms of group 7 (SWAPGS,
/// RDTSCP, XGETBV/XSETBV, CLAC/STAC, MONITOR/MWAIT), SMSW/LMSW, RDRAND/RDSEED/RDPID, POPCNT, and the
/// three-byte maps (CPUCore+SSSE3.swift). Each one the CPU model
/// does not advertise is #UD, as on a processor without it.
extension CPUCore {
    func executeLegacyTwoByte(_ i: inout Instruction, _ op: Int) throws {
        switch op {
        case 0xA0, 0xA8:
            try push(UInt64(self[op == 0xA0 ? .fs : .gs].selector), size: stackSize(i))
        case 0xA1, 0xA9:
            try popSegment(op == 0xA1 ? .fs : .gs, i)
        case 0xB2, 0xB4, 0xB5:
            try loadFarPointer(&i, op == 0xB2 ? .ss : (op == 0xB4 ? .fs : .gs))
        case 0x02, 0x03:
            try loadSegmentQuery(&i, limit: op == 0x03)
        case 0xB8:
            try populationCount(&i)
        case 0x38, 0x3A:
            try threeByteMap(&i, map: op)
        default:
            throw notImplemented(0x100 | UInt64(op), i)
        }
    }

    /// POPCNT (F3 0F B8): the count of set bits; ZF says the source was zero, OF SF AF CF PF are cleared. Without
    /// F3 (or with F2 last) the opcode is JMPE's reserved slot, #UD.
    func populationCount(_ i: inout Instruction) throws {
        guard i.repeatPrefix == 0xF3, model.advertises(.popcnt) else { throw CPUFault.ud }
        let (modrm, operand) = try decodeModRM(&i)
        let value = try read(operand, size: i.operandSize, i)
        setRegister(modrm.reg, size: i.operandSize, UInt64(value.nonzeroBitCount))
        setArithmeticFlags(value == 0 ? Flag.zf : 0)
    }

    /// 0F 01 with ModRM.mod = 3: each ModRM byte is its own instruction. `modrm` is still unfetched.
    func groupSevenRegisterForm(_ i: inout Instruction, _ modrm: UInt64) throws {
        let reg = (modrm >> 3) & 7
        if reg == 4 || reg == 6 {   // SMSW r / LMSW r take a register operand like any ModRM form
            let (_, operand) = try decodeModRM(&i)
            try machineStatusWord(i, operand, store: reg == 4)
            return
        }
        _ = try fetch8(&i)
        switch modrm {
        case 0xF8:   // SWAPGS
            guard is64BitCode else { throw CPUFault.ud }
            guard cpl == 0 else { throw CPUFault.gp() }
            let kernelBase = msrs[MSR.kernelGSBase] ?? 0
            msrs[MSR.kernelGSBase] = sregs.gs.base
            sregs.gs.base = kernelBase
        case 0xF9:   // RDTSCP
            guard model.has(.rdtscp) else { throw CPUFault.ud }
            try checkTimeStampAccess()
            let tsc = timeStampCounter.value
            setRegister(0, size: 4, tsc & 0xFFFF_FFFF)
            setRegister(2, size: 4, tsc >> 32)
            setRegister(1, size: 4, timeStampAuxiliary)
        case 0xD0, 0xD1:   // XGETBV, XSETBV: only with XSAVE, which this CPU does not implement (CR4.OSXSAVE stays 0)
            guard model.has(.xsave) else { throw CPUFault.ud }
            throw notImplemented(0x101, i)
        case 0xCA, 0xCB:   // CLAC, STAC
            guard model.has(.smap) else { throw CPUFault.ud }
            guard cpl == 0 else { throw CPUFault.ud }
            if modrm == 0xCA { rflags &= ~Flag.ac } else { rflags |= Flag.ac }
        case 0xC8, 0xC9:   // MONITOR, MWAIT
            guard model.has(.monitor) else { throw CPUFault.ud }
            throw notImplemented(0x101, i)
        default:
            throw notImplemented(0x101, i)
        }
    }

    /// SMSW stores CR0's low bits (16 to memory, the operand size to a register; #GP at CPL > 0 only with UMIP,
    /// which this CPU lacks); LMSW loads PE, MP, EM and TS, and can set PE but never clear it (CPL 0 only).
    func machineStatusWord(_ i: Instruction, _ operand: Operand, store: Bool) throws {
        if store {
            if case .register = operand {
                try write(operand, size: i.operandSize, sregs.cr0 & Flag.mask(i.operandSize), i)
            } else {
                try write(operand, size: 2, sregs.cr0 & 0xFFFF, i)
            }
            return
        }
        guard cpl == 0 else { throw CPUFault.gp() }
        let source = try read(operand, size: 2, i)
        let newCR0 = (sregs.cr0 & ~0xE) | (source & 0xF) | (sregs.cr0 & ControlRegister.cr0PE)
        try setControlRegister(0, newCR0)
    }

    /// 0F C7 /6 and /7 with a register operand: RDRAND, RDSEED, and (with F3) RDPID.
    func randomOrProcessorID(_ i: inout Instruction, _ modrm: ModRM, _ operand: Operand) throws {
        guard case .register(let index) = operand else { throw notImplemented(0x1C7, i) }
        if modrm.reg & 7 == 7 && i.repeatPrefix == 0xF3 {
            guard model.has(.rdpid) else { throw CPUFault.ud }
            setRegister(index, size: is64BitCode ? 8 : 4, timeStampAuxiliary)
            return
        }
        guard i.repeatPrefix == 0 else { throw CPUFault.ud }
        guard model.has(modrm.reg & 7 == 6 ? .rdrand : .rdseed) else { throw CPUFault.ud }
        let size = i.operandSize
        // The host's entropy: Swift's system generator reads getrandom(2) on Linux. A value is always available
        // (CF = 1), as on hardware whose conditioner keeps up.
        var entropy = SystemRandomNumberGenerator()
        setRegister(index, size: size, entropy.next() & Flag.mask(size))
        setArithmeticFlags(Flag.cf)
    }

    /// RDTSC and RDTSCP are #GP outside CPL 0 when CR4.TSD is set.
    func checkTimeStampAccess() throws {
        guard sregs.cr4 & CPUCore.cr4TSD == 0 || cpl == 0 else { throw CPUFault.gp() }
    }

    static let cr4TSD: UInt64 = 1 << 2

    /// IA32_TSC_AUX, which RDTSCP and RDPID return.
    var timeStampAuxiliary: UInt64 { msrs[MSR.tscAux] ?? 0 }
}
