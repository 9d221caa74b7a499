import ApusCore

/// Instructions of the 0F opcode map: system instructions, conditional moves and sets, bit operations.
extension CPUCore {
    /// Runs a 0F-map handler; `op` is the second opcode byte, which the handlers that cover several opcodes read.
    func executeTwoByte(_ i: inout Instruction, _ op: Int, _ handler: OpcodeHandler) throws -> StepResult {
        let size = i.operandSize
        switch handler {
        case .jumpNearConditional:
            let displacement = signExtend(try immediate(&i, size: min(size, 4)), from: min(size, 4))
            if condition(op & 0xF) { i.ip = relativeTarget(i, displacement) }
        case .moveExtend:
            let (modrm, operand) = try decodeModRM(&i)
            let width = op & 1 == 0 ? 1 : 2
            let value = try read(operand, size: width, i)
            setRegister(modrm.reg, size: size, op < 0xBE ? value : signExtend(value, from: width) & Flag.mask(size))
        case .conditionalMove:
            let (modrm, operand) = try decodeModRM(&i)
            let value = try read(operand, size: size, i)
            if condition(op & 0xF) { setRegister(modrm.reg, size: size, value) }
            else if size == 4 { setRegister(modrm.reg, size: 4, register(modrm.reg, size: 4)) }
        case .setByte:
            let (_, operand) = try decodeModRM(&i)
            try write(operand, size: 1, condition(op & 0xF) ? 1 : 0, i)
        case .hintNop:
            // Multi-byte NOP, the reserved-NOP space, and PREFETCH hints: no architectural effect (no cache here).
            _ = try decodeModRM(&i)
        case .bitTest:
            let (modrm, operand) = try decodeModRM(&i)
            let operation = op == 0xBA ? modrm.reg & 7 : [0xA3: 4, 0xAB: 5, 0xB3: 6, 0xBB: 7][op] ?? 4
            guard operation >= 4 else { throw CPUFault.ud }
            let bits = UInt64(size * 8)
            let bitIndex = op == 0xBA ? try fetch8(&i) : register(modrm.reg, size: size)
            // A register bit offset may reach beyond the addressed operand in memory (signed, in operand units).
            var target = operand
            if case .memory(let segment, let offset, let ripRelative) = operand, op != 0xBA {
                let unit = Int64(bitPattern: signExtend(bitIndex, from: size)) >> Int64(size == 2 ? 4 : size == 4 ? 5 : 6)
                let moved = (offset &+ UInt64(bitPattern: unit &* Int64(size))) & Flag.mask(i.addressSize)
                target = .memory(segment, moved, ripRelative: ripRelative)
            }
            let value = operation == 4 ? try read(target, size: size, i) : try readForUpdate(target, size: size, i)
            let mask = UInt64(1) << (bitIndex % bits)
            setArithmeticFlags(value & mask != 0 ? Flag.cf : 0, mask: Flag.cf)
            switch operation {
            case 5: try write(target, size: size, value | mask, i)
            case 6: try write(target, size: size, value & ~mask, i)
            case 7: try write(target, size: size, value ^ mask, i)
            default: break
            }
        case .multiplySigned:
            let (modrm, operand) = try decodeModRM(&i)
            setRegister(modrm.reg, size: size,
                        try signedMultiply(register(modrm.reg, size: size), try read(operand, size: size, i), size: size))
        case .compareExchange:
            // CMPXCHG: compare the accumulator with the destination; store the source on a match, else load it.
            let width = op == 0xB0 ? 1 : size
            let (modrm, operand) = try decodeModRM(&i)
            let current = try readForUpdate(operand, size: width, i)
            setArithmeticFlags(Flag.sub(register(0, size: width), current, borrow: 0, width).1)
            if flag(Flag.zf) {
                try write(operand, size: width, register(modrm.reg, size: width, rex: i.hasREX), i)
            } else {
                // A memory destination gets a write cycle of its own value; a register destination is left
                // untouched (its upper half survives a 32-bit mismatch), as hardware does at CPL3.
                if case .memory = operand { try write(operand, size: width, current, i) }
                setRegister(0, size: width, current)
            }
        case .groupSeven:
            var peek = i
            let modrmByte = try fetch8(&peek)
            if modrmByte >> 6 == 3 {   // SWAPGS, RDTSCP, SMSW r...: one instruction per ModRM byte
                try groupSevenRegisterForm(&i, modrmByte)
                break
            }
            let (modrm, operand) = try decodeModRM(&i)
            let kind = modrm.reg & 7
            if kind == 4 || kind == 6 {            // SMSW m16, LMSW m16
                try machineStatusWord(i, operand, store: kind == 4)
                break
            }
            if kind == 7 {                         // INVLPG
                guard cpl == 0 else { throw CPUFault.gp() }
                let (segment, offset) = try effectiveOffset(operand, i)
                tlb.flush(page: linear(segment, offset))
                fetchPage = .max
                decoded.flushAll()
                break
            }
            guard kind <= 3, cpl == 0 || kind <= 1 else { throw kind <= 3 ? CPUFault.gp() : CPUFault.ud }
            let (segment, offset) = try effectiveOffset(operand, i)
            let baseSize = is64BitCode ? 8 : 4
            if kind >= 2 {
                let limit = UInt16(try read(segment, offset, size: 2))
                var base = try read(segment, offset &+ 2, size: baseSize)
                if size == 2 && !is64BitCode { base &= 0xFF_FFFF }
                if kind == 2 { sregs.gdt = DescriptorTable(base: base, limit: limit) }
                else { sregs.idt = DescriptorTable(base: base, limit: limit) }
            } else {
                let table = kind == 0 ? sregs.gdt : sregs.idt
                try write(segment, offset, size: 2, UInt64(table.limit))
                try write(segment, offset &+ 2, size: baseSize, table.base)
            }
        case .systemCall:
            try systemCall(&i)
            return .normal
        case .systemReturn:
            try systemReturn(i)
            return .normal
        case .clearTaskSwitched:
            guard cpl == 0 else { throw CPUFault.gp() }
            sregs.cr0 &= ~ControlRegister.cr0TS
        case .invalidateCaches:
            guard cpl == 0 else { throw CPUFault.gp() }
        case .moveControlRegister:
            guard cpl == 0 else { throw CPUFault.gp() }
            let (number, index) = try decodeRegisterForm(&i)
            let width = is64BitCode ? 8 : 4
            if op == 0x20 {
                setRegister(index, size: width, try controlRegister(number))
            } else {
                try setControlRegister(number, register(index, size: width))
            }
        case .writeMSR:
            guard cpl == 0 else { throw CPUFault.gp() }
            try writeMSR(UInt32(gpr[1] & 0xFFFF_FFFF), (gpr[2] & 0xFFFF_FFFF) << 32 | gpr[0] & 0xFFFF_FFFF)
        case .readTimeStampCounter:
            try checkTimeStampAccess()
            let tsc = timeStampCounter.value
            setRegister(0, size: 4, tsc & 0xFFFF_FFFF)
            setRegister(2, size: 4, tsc >> 32)
        case .readMSR:
            guard cpl == 0 else { throw CPUFault.gp() }
            let value = try readMSR(UInt32(gpr[1] & 0xFFFF_FFFF))
            setRegister(0, size: 4, value & 0xFFFF_FFFF)
            setRegister(2, size: 4, value >> 32)
        case .systemSegment:
            try systemSegmentInstruction(&i)
        case .moveDebugRegister:
            try moveDebugRegister(&i, toDebugRegister: op == 0x23)
        case .readPerformanceCounters:
            throw CPUFault.gp()   // RDPMC: this CPU has no performance counters, so every index is invalid
        case .cpuid:
            decoded.flushAll()   // serializing: how x86 code makes cross-modified code visible
            let (a, b, c, d) = cpuidWithAPIC(leaf: UInt32(gpr[0] & 0xFFFF_FFFF), subleaf: UInt32(gpr[1] & 0xFFFF_FFFF))
            setRegister(0, size: 4, UInt64(a)); setRegister(3, size: 4, UInt64(b))
            setRegister(1, size: 4, UInt64(c)); setRegister(2, size: 4, UInt64(d))
        case .doubleShift:
            // SHLD / SHRD: shift the destination, filling from the source register.
            let (modrm, operand) = try decodeModRM(&i)
            let raw = op & 1 == 0 ? try fetch8(&i) : gpr[1] & 0xFF
            let count = raw & (size == 8 ? 0x3F : 0x1F)
            let value = try readForUpdate(operand, size: size, i)
            if count != 0 {
                let bits = UInt64(size * 8), mask = Flag.mask(size)
                let fill = register(modrm.reg, size: size)
                let left = op <= 0xA5
                let result: UInt64
                let carry: Bool
                if count > bits {
                    // A 16-bit operand with a count of 17-31: the result is undefined; this gives what P6 and later
                    // do, shifting the 48-bit dest:src:dest (and never an out-of-range host shift).
                    let wide = value << 32 | fill << 16 | value
                    result = (left ? wide >> (32 - count) : wide >> count) & mask
                    carry = (left ? wide >> (48 - count) : wide >> (count - 1)) & 1 != 0
                } else if left {
                    result = ((value << count) | (fill >> (bits - count))) & mask
                    carry = (value >> (bits - count)) & 1 != 0
                } else {
                    result = ((value >> count) | (fill << (bits - count))) & mask
                    carry = (value >> (count - 1)) & 1 != 0
                }
                let overflow = (result ^ value) & Flag.signBit(size) != 0
                setArithmeticFlags(Flag.result(result, size) | (carry ? Flag.cf : 0) | (overflow ? Flag.of : 0))
                try write(operand, size: size, result, i)
            } else {
                try write(operand, size: size, value, i)   // a count of 0 still writes (zero-extending 32-bit)
            }
        case .exchangeAdd:
            // XADD: the destination gets the sum, the source register the old destination.
            let width = op == 0xC0 ? 1 : size
            let (modrm, operand) = try decodeModRM(&i)
            let current = try readForUpdate(operand, size: width, i)
            let (sum, flags) = Flag.add(current, register(modrm.reg, size: width, rex: i.hasREX), carry: 0, width)
            setRegister(modrm.reg, size: width, current, rex: i.hasREX)
            try write(operand, size: width, sum, i)
            setArithmeticFlags(flags)
        case .fenceOrState:
            let (modrm, operand) = try decodeModRM(&i)
            if modrm.mod == 3 {                                // LFENCE, MFENCE, SFENCE
                guard modrm.reg & 7 >= 5 else { throw notImplemented(0x1AE, i) }   // reserved (#UD) register forms
                // Loads and stores are already in TSO order (CPUCore+Memory); MFENCE also keeps later loads after
                // earlier stores.
                if modrm.reg & 7 == 6 { fullFence() }
                break
            }
            try floatingPointState(modrm.reg & 7, operand, i)
        case .countZeros where model.advertises(op == 0xBC ? .bmi1 : .lzcnt):
            try countZeros(&i, leading: op == 0xBD)
        case .bitScan, .countZeros:   // without BMI1/LZCNT the F3 is ignored, as on older processors
            let (modrm, operand) = try decodeModRM(&i)
            let value = try read(operand, size: size, i)
            if value == 0 {
                setArithmeticFlags(Flag.zf, mask: Flag.zf)
            } else {
                setArithmeticFlags(0, mask: Flag.zf)
                let index = op == 0xBC ? value.trailingZeroBitCount : 63 - value.leadingZeroBitCount
                setRegister(modrm.reg, size: size, UInt64(index))
            }
        case .groupNine:
            let (modrm, operand) = try decodeModRM(&i)
            switch modrm.reg & 7 {
            case 1: try compareExchangeWide(&i, operand)
            case 6, 7: try randomOrProcessorID(&i, modrm, operand)
            default: throw notImplemented(0x1C7, i)
            }
        case .byteSwap:
            let index = op & 7 | i.rexB
            let value = register(index, size: size)
            setRegister(index, size: size, size == 8 ? value.byteSwapped : UInt64(UInt32(truncatingIfNeeded: value).byteSwapped))
        case .sse:
            try sse(&i, op)
        case .legacyTwoByte, .threeByte:
            try executeLegacyTwoByte(&i, op)
        default:
            throw CPUFault.ud   // a one-byte-map handler: step never sends one here
        }
        rip = i.ip
        return .normal
    }

    /// SYSCALL (SDM Vol. 2B): RCX <- RIP, R11 <- RFLAGS, CS/SS from STAR[47:32], RIP <- LSTAR, RFLAGS &= ~SFMASK.
    func systemCall(_ i: inout Instruction) throws {
        guard is64BitCode, sregs.efer & ControlRegister.eferSCE != 0 else { throw CPUFault.ud }
        let star = msrs[MSR.star] ?? 0
        let selector = UInt16((star >> 32) & 0xFFFC)
        gpr[1] = i.ip
        gpr[11] = rflags
        sregs.cs = Segment(base: 0, limit: 0xFFFF_FFFF, selector: selector, type: 0xB, dpl: 0, db: false, l: true, g: true)
        sregs.ss = Segment(base: 0, limit: 0xFFFF_FFFF, selector: selector &+ 8, type: 0x3, dpl: 0, db: true, g: true)
        rflags = (rflags & ~(msrs[MSR.sfmask] ?? 0)) & ~0x10000 | Flag.fixed
        rip = msrs[MSR.lstar] ?? 0
    }

    /// SYSRET to 64-bit user code: RIP <- RCX, RFLAGS <- R11, CS/SS from STAR[63:48] (+16 / +8), CPL 3.
    func systemReturn(_ i: Instruction) throws {
        guard longMode, sregs.efer & ControlRegister.eferSCE != 0 else { throw CPUFault.ud }
        guard cpl == 0 else { throw CPUFault.gp() }
        let base = UInt16(((msrs[MSR.star] ?? 0) >> 48) & 0xFFFF)
        let toLongMode = i.rexW
        guard !toLongMode || gpr[1] >> 47 == 0 || gpr[1] >> 47 == 0x1_FFFF else { throw CPUFault.gp() }
        sregs.cs = Segment(base: 0, limit: 0xFFFF_FFFF, selector: (toLongMode ? base &+ 16 : base) | 3, type: 0xB, dpl: 3,
                           db: !toLongMode, l: toLongMode, g: true)
        sregs.ss = Segment(base: 0, limit: 0xFFFF_FFFF, selector: (base &+ 8) | 3, type: 0x3, dpl: 3, db: true, g: true)
        rflags = (gpr[11] & 0x3C_7FD7) | Flag.fixed
        rip = toLongMode ? gpr[1] : gpr[1] & 0xFFFF_FFFF
    }

    func controlRegister(_ index: Int) throws -> UInt64 {
        switch index {
        case 0: return sregs.cr0
        case 2: return sregs.cr2
        case 3: return sregs.cr3
        case 4: return sregs.cr4
        case 8: return taskPriorityRegister
        default: throw CPUFault.ud
        }
    }

    func setControlRegister(_ index: Int, _ value: UInt64) throws {
        decoded.flushAll()   // serializing
        switch index {
        case 0:
            sregs.cr0 = value | ControlRegister.cr0ET
            // Long mode becomes active when paging turns on with EFER.LME set (and inactive when it turns off).
            if value & ControlRegister.cr0PG != 0 && sregs.efer & ControlRegister.eferLME != 0 {
                guard sregs.cr4 & ControlRegister.cr4PAE != 0 else { throw CPUFault.gp() }
                sregs.efer |= ControlRegister.eferLMA
            } else if value & ControlRegister.cr0PG == 0 {
                sregs.efer &= ~ControlRegister.eferLMA
            }
        case 2: sregs.cr2 = value
        case 3: sregs.cr3 = value
        case 4: sregs.cr4 = value
        case 8: try setTaskPriorityRegister(value)
        default: throw CPUFault.ud
        }
    }

    /// MSRs this CPU implements; any other index raises #GP, which Linux's rdmsr_safe relies on.
    static let storedMSRs: Set<UInt32> = [
        MSR.star, MSR.lstar, MSR.cstar, MSR.sfmask, MSR.kernelGSBase, MSR.sysenterCS, MSR.sysenterESP,
        MSR.sysenterEIP, MSR.pat,
    ]

    func readMSR(_ index: UInt32) throws -> UInt64 {
        if let value = try readAPICMSR(index) { return value }
        switch index {
        case MSR.efer: return sregs.efer
        case MSR.fsBase: return sregs.fs.base
        case MSR.gsBase: return sregs.gs.base
        case MSR.tsc: return timeStampCounter.value
        case _ where Self.storedMSRs.contains(index): return msrs[index] ?? (index == MSR.pat ? 0x0007_0406_0007_0406 : 0)
        default:
            guard let value = readModelMSR(index) else { throw CPUFault.gp() }
            return value
        }
    }

    func writeMSR(_ index: UInt32, _ value: UInt64) throws {
        decoded.flushAll()   // serializing
        if try writeAPICMSR(index, value) { return }
        switch index {
        case MSR.efer:
            let writable = ControlRegister.eferSCE | ControlRegister.eferLME | ControlRegister.eferNXE
            guard value & ~(writable | ControlRegister.eferLMA) == 0 else { throw CPUFault.gp() }
            sregs.efer = (value & writable) | (sregs.efer & ControlRegister.eferLMA)
        case MSR.fsBase: sregs.fs.base = value
        case MSR.gsBase: sregs.gs.base = value
        case MSR.tsc: timeStampCounter.set(value)
        case _ where Self.storedMSRs.contains(index): msrs[index] = value
        default: guard try writeModelMSR(index, value) else { throw CPUFault.gp() }
        }
    }
}
