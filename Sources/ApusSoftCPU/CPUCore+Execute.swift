import ApusCore

/// The interpreter: decodes and executes one instruction. RIP and registers change only when the instruction
/// completes; a fault leaves RIP at the instruction's first byte, so it restarts after the handler (precise faults).
extension CPUCore {
    enum StepResult { case normal, halt }

    func step() throws -> StepResult {
        var i: Instruction
        let opcode: UInt64
        let handler: OpcodeHandler
        if let entry = cachedInstruction() {
            i = Instruction(cached: entry, start: rip, ip: advanced(rip, by: Int(entry.pointee.opcodeLength)))
            opcode = UInt64(entry.pointee.opcode)
            handler = entry.pointee.handler
        } else {
            let size = defaultSize
            i = Instruction(start: rip, ip: rip, operandSize: size, addressSize: is64BitCode ? 8 : size)
            (opcode, handler) = try decodeOpcode(&i)
        }
        if i.lock {
            return try executeLocked(i) { i in
                handler.runsInTwoByteMap
                    ? try self.executeTwoByte(&i, Int(opcode & 0xFF), handler)
                    : try self.executeOneByte(&i, Int(opcode), handler)
            }
        }
        let result = handler.runsInTwoByteMap
            ? try executeTwoByte(&i, Int(opcode & 0xFF), handler) : try executeOneByte(&i, Int(opcode), handler)
        instructions &+= 1
        return result
    }

    /// Runs a one-byte-map handler; `op` is the opcode byte, which the handlers that cover several opcodes read.
    private func executeOneByte(_ i: inout Instruction, _ op: Int, _ handler: OpcodeHandler) throws -> StepResult {
        let size = i.operandSize
        switch handler {
        case .arithmeticWithRegister:
            let operation = op >> 3
            let width = op & 1 == 0 ? 1 : size
            let (modrm, operand) = try decodeModRM(&i)
            let registerValue = register(modrm.reg, size: width, rex: i.hasREX)
            let updates = op & 2 == 0 && operation != 7
            let memoryValue = updates ? try readForUpdate(operand, size: width, i) : try read(operand, size: width, i)
            if op & 2 == 0 {
                let (value, store) = alu(operation, memoryValue, registerValue, size: width)
                if store { try write(operand, size: width, value, i) }
            } else {
                let (value, store) = alu(operation, registerValue, memoryValue, size: width)
                if store { setRegister(modrm.reg, size: width, value, rex: i.hasREX) }
            }
        case .arithmeticAccumulatorImmediate:
            let operation = op >> 3
            let width = op & 1 == 0 ? 1 : size
            let immediate = try self.immediate(&i, size: width)
            let (value, store) = alu(operation, register(0, size: width), immediate, size: width)
            if store { setRegister(0, size: width, value) }
        case .moveRegisterMemory:
            let width = op & 1 == 0 ? 1 : size
            let (modrm, operand) = try decodeModRM(&i)
            if op & 2 == 0 {
                try write(operand, size: width, register(modrm.reg, size: width, rex: i.hasREX), i)
            } else {
                setRegister(modrm.reg, size: width, try read(operand, size: width, i), rex: i.hasREX)
            }
        case .jumpShortConditional:
            let displacement = signExtend(try fetch8(&i), from: 1)
            if condition(op & 0xF) { i.ip = relativeTarget(i, displacement) }
        case .loadEffectiveAddress:
            let (modrm, operand) = try decodeModRM(&i)
            let (_, offset) = try effectiveOffset(operand, i)
            setRegister(modrm.reg, size: size, offset)
        case .testRegisterMemory:
            let width = op == 0x84 ? 1 : size
            let (modrm, operand) = try decodeModRM(&i)
            _ = alu(4, try read(operand, size: width, i), register(modrm.reg, size: width, rex: i.hasREX), size: width)
        case .arithmeticImmediate:
            let width = op == 0x80 ? 1 : size
            let (modrm, operand) = try decodeModRM(&i)
            let imm = op == 0x81 ? try immediate(&i, size: width) : signExtend(try fetch8(&i), from: 1)
            let current = modrm.reg & 7 == 7 ? try read(operand, size: width, i) : try readForUpdate(operand, size: width, i)
            let (value, store) = alu(modrm.reg & 7, current, imm, size: width)
            if store { try write(operand, size: width, value, i) }
        case .callNear:
            let displacement = signExtend(try immediate(&i, size: min(size, 4)), from: min(size, 4))
            try push(i.ip, size: stackSize(i))
            i.ip = relativeTarget(i, displacement)
        case .returnNear:
            let release = op == 0xC2 ? try fetch(&i, size: 2) : 0
            let savedRSP = gpr[4]
            i.ip = try pop(size: stackSize(i))
            guard !is64BitCode || isCanonical(i.ip) else {
                gpr[4] = savedRSP
                throw CPUFault.gp()
            }
            gpr[4] = (gpr[4] & ~stackAddressMask) | ((gpr[4] &+ release) & stackAddressMask)
        case .incrementDecrementMemory:   // FE, FF /0 /1
            let width = op == 0xFE ? 1 : size
            let (modrm, operand) = try decodeModRM(&i)
            let value = try readForUpdate(operand, size: width, i)
            let result = (modrm.reg & 7 == 0 ? value &+ 1 : value &- 1) & Flag.mask(width)
            try write(operand, size: width, result, i)   // flags only once the store has not faulted
            _ = incrementOrDecrement(value, increment: modrm.reg & 7 == 0, size: width)
        case .callIndirect:   // FF /2
            let (_, operand) = try decodeModRM(&i)
            let target = try branchTarget(try read(operand, size: is64BitCode ? 8 : size, i))
            try push(i.ip, size: stackSize(i))
            i.ip = target
        case .jumpIndirect:   // FF /4
            let (_, operand) = try decodeModRM(&i)
            i.ip = try branchTarget(try read(operand, size: is64BitCode ? 8 : size, i))
        case .pushMemory:   // FF /6
            let (_, operand) = try decodeModRM(&i)
            try push(try read(operand, size: stackSize(i), i), size: stackSize(i))
        case .farIndirect:   // FF /3 /5
            let (modrm, operand) = try decodeModRM(&i)
            try farTransferThroughMemory(&i, operand, isCall: modrm.reg & 7 == 3)
            return .normal
        case .pushRegister:
            try push(gpr[op & 7 | i.rexB], size: stackSize(i))
        case .popRegister:
            let width = stackSize(i)
            setRegister(op & 7 | i.rexB, size: width, try pop(size: width))
        case .jumpNear:
            let displacement = signExtend(try immediate(&i, size: min(size, 4)), from: min(size, 4))
            i.ip = relativeTarget(i, displacement)
        case .jumpShort:
            let displacement = signExtend(try fetch8(&i), from: 1)
            i.ip = relativeTarget(i, displacement)
        case .moveImmediateToRegister:
            setRegister(op & 7 | i.rexB, size: size, try fetch(&i, size: size))
        case .moveImmediate:   // C6, C7 /0
            let width = op == 0xC6 ? 1 : size
            let (_, operand) = try decodeModRM(&i)
            try write(operand, size: width, try immediate(&i, size: width), i)
        case .shiftRotate:
            let width = op & 1 == 0 ? 1 : size
            let (modrm, operand) = try decodeModRM(&i)
            let raw: UInt64 = op <= 0xC1 ? try fetch8(&i) : (op <= 0xD1 ? 1 : gpr[1] & 0xFF)
            let count = raw & (width == 8 ? 0x3F : 0x1F)
            let value = shift(modrm.reg & 7, try readForUpdate(operand, size: width, i), count: count, size: width)
            try write(operand, size: width, value, i)
        case .unaryGroup:
            let width = op == 0xF6 ? 1 : size
            let (modrm, operand) = try decodeModRM(&i)
            switch modrm.reg & 7 {
            case 0, 1:
                // The immediate first: a RIP-relative operand is relative to the end of the whole instruction.
                let imm = try immediate(&i, size: width)
                _ = alu(4, try read(operand, size: width, i), imm, size: width)
            case 2: try write(operand, size: width, ~(try readForUpdate(operand, size: width, i)) & Flag.mask(width), i)
            case 3:
                let value = try readForUpdate(operand, size: width, i)
                let (result, flags) = Flag.sub(0, value, borrow: 0, width)
                try write(operand, size: width, result, i)
                setArithmeticFlags(flags)
            case let operation: try multiplyOrDivide(operation, try read(operand, size: width, i), size: width)
            }
        case .incrementDecrementRegister:   // 40-4F outside 64-bit mode (REX prefixes there)
            let index = op & 7
            setRegister(index, size: size, incrementOrDecrement(register(index, size: size), increment: op < 0x48, size: size))
        case .moveSignExtendDoubleword:   // 63 in 64-bit mode
            let (modrm, operand) = try decodeModRM(&i)
            setRegister(modrm.reg, size: size, signExtend(try read(operand, size: 4, i), from: 4))
        case .pushImmediate:
            let value = op == 0x6A ? signExtend(try fetch8(&i), from: 1) : try immediate(&i, size: min(size, 4))
            try push(signExtend(value, from: op == 0x6A ? 1 : min(size, 4)), size: stackSize(i))
        case .multiplyImmediate:
            let (modrm, operand) = try decodeModRM(&i)
            let imm = op == 0x6B ? signExtend(try fetch8(&i), from: 1) : signExtend(try immediate(&i, size: min(size, 4)), from: min(size, 4))
            setRegister(modrm.reg, size: size, try signedMultiply(try read(operand, size: size, i), imm, size: size))
        case .exchangeRegisterMemory:
            let width = op == 0x86 ? 1 : size
            let (modrm, operand) = try decodeModRM(&i)
            let memoryValue = try readForUpdate(operand, size: width, i)
            try write(operand, size: width, register(modrm.reg, size: width, rex: i.hasREX), i)
            setRegister(modrm.reg, size: width, memoryValue, rex: i.hasREX)
        case .moveFromSegment:
            let (modrm, operand) = try decodeModRM(&i)
            guard let segment = SegmentRegister(rawValue: modrm.reg & 7) else { throw CPUFault.ud }
            let selector = UInt64(self[segment].selector)
            if case .register = operand { try write(operand, size: size, selector, i) } else { try write(operand, size: 2, selector, i) }
        case .moveToSegment:
            let (modrm, operand) = try decodeModRM(&i)
            guard let segment = SegmentRegister(rawValue: modrm.reg & 7), segment != .cs else { throw CPUFault.ud }
            try loadSegment(segment, selector: UInt16(try read(operand, size: 2, i)))
            // MOV SS blocks interrupts until the next instruction (the RSP load) has completed.
            if segment == .ss { interruptShadowEnd = instructions &+ 2 }
        case .popMemory:   // 8F /0 (AMD's XOP uses the rest)
            let beforeOperand = i
            _ = try decodeModRM(&i)   // fetches every byte first: their faults come before the pop's
            let width = stackSize(i)
            let savedRSP = gpr[4]
            do {
                let value = try pop(size: width)
                // An RSP-based destination is addressed with RSP after the increment (SDM, POP): evaluate it again.
                i = beforeOperand
                let (_, operand) = try decodeModRM(&i)
                try write(operand, size: width, value, i)
            } catch { gpr[4] = savedRSP; throw error }
        case .waitForFPU: try checkPendingX87Exception()   // FWAIT: #MF for a pending unmasked x87 exception
        case .x87:
            try x87(&i, op)
        case .exchangeAccumulator:   // 90 is NOP (and PAUSE) unless REX.B makes it XCHG r8, rAX
            let index = op & 7 | i.rexB
            guard index != 0 else { break }
            let value = register(index, size: size)
            setRegister(index, size: size, register(0, size: size))
            setRegister(0, size: size, value)
        case .convertAccumulator:
            setRegister(0, size: size, signExtend(register(0, size: size / 2), from: size / 2))
        case .signExtendAccumulator:
            setRegister(2, size: size, register(0, size: size) & Flag.signBit(size) != 0 ? Flag.mask(size) : 0)
        case .pushFlags:
            try push(rflags & 0x00FC_FFFF, size: stackSize(i))
        case .popFlags:
            let width = stackSize(i)
            let value = try pop(size: width)
            // IOPL and IF change only with enough privilege; the fixed bit stays set.
            var writable: UInt64 = 0x0024_4DD5 | Flag.df | Flag.tf
            if cpl == 0 { writable |= 0x3000 | Flag.if } else if cpl <= (rflags >> 12) & 3 { writable |= Flag.if }
            if width == 2 { writable &= 0xFFFF }
            rflags = (rflags & ~writable) | (value & writable) | Flag.fixed
        case .storeAHIntoFlags:
            rflags = (rflags & ~0xD5) | (gpr[0] >> 8) & 0xD5 | Flag.fixed
        case .loadAHFromFlags:
            setRegister(4, size: 1, rflags & 0xD7 | 2, rex: false)
        case .string:
            // An unfinished REP leaves RIP on the instruction, which resumes where the registers say.
            guard try stringInstruction(&i, op) else { return .normal }
        case .testAccumulatorImmediate:
            let width = op == 0xA8 ? 1 : size
            _ = alu(4, register(0, size: width), try immediate(&i, size: width), size: width)
        case .moveImmediateByteToRegister:
            setRegister(op & 7 | i.rexB, size: 1, try fetch8(&i), rex: i.hasREX)
        case .leave:
            // LEAVE reads the saved frame pointer before changing RSP, so a fault leaves both registers as they were.
            let frame = gpr[5] & stackAddressMask
            let saved = try read(.ss, frame, size: stackSize(i))
            gpr[4] = (gpr[4] & ~stackAddressMask) | ((frame &+ UInt64(stackSize(i))) & stackAddressMask)
            setRegister(5, size: stackSize(i), saved)
        case .breakpoint:
            try softwareInterrupt(vector: 3, returnIP: i.ip)
            return .normal
        case .interrupt:
            let vector = UInt8(try fetch8(&i))
            try softwareInterrupt(vector: vector, returnIP: i.ip)
            return .normal
        case .interruptReturn:
            try interruptReturn(i)
            return .normal
        case .farReturn:
            let release = op == 0xCA ? try fetch(&i, size: 2) : 0
            try farReturn(i, release: release)
            return .normal
        case .loop:
            // LOOPNE, LOOPE, LOOP: decrement the counter (flags untouched), then branch.
            let displacement = signExtend(try fetch8(&i), from: 1)
            let counterSize = i.addressSize
            let counter = (register(1, size: counterSize) &- 1) & Flag.mask(counterSize)
            setRegister(1, size: counterSize, counter)
            let zeroCondition = op == 0xE2 || (op == 0xE1) == flag(Flag.zf)
            if counter != 0 && zeroCondition { i.ip = relativeTarget(i, displacement) }
        case .jumpIfCounterZero:
            let displacement = signExtend(try fetch8(&i), from: 1)
            if register(1, size: i.addressSize) == 0 { i.ip = relativeTarget(i, displacement) }
        case .translate:
            let offset = (gpr[3] &+ (gpr[0] & 0xFF)) & Flag.mask(i.addressSize)
            setRegister(0, size: 1, try read(i.segment ?? .ds, offset, size: 1))
        case .portString:
            guard try portString(&i, op) else { return .normal }
        case .enter:
            try enter(&i)
        case .portIn:
            let width = op & 1 == 0 ? 1 : min(size, 4)
            let port = op <= 0xE5 ? try fetch8(&i) : gpr[2] & 0xFFFF
            try checkIOPermission(port: port, size: width)
            setRegister(0, size: width, try deviceRead(isPort: true, address: port, size: width))
        case .portOut:
            let width = op & 1 == 0 ? 1 : min(size, 4)
            let port = op <= 0xE7 ? try fetch8(&i) : gpr[2] & 0xFFFF
            try checkIOPermission(port: port, size: width)
            try deviceWrite(isPort: true, address: port, size: width, register(0, size: width))
        case .farJumpDirect:   // EA outside 64-bit mode
            let offset = try fetch(&i, size: size)
            let selector = UInt16(try fetch(&i, size: 2))
            try farJump(selector: selector, offset: offset, size: size)
            return .normal
        case .halt:
            guard cpl == 0 else { throw CPUFault.gp() }
            rip = i.ip
            return .halt
        case .complementCarry: rflags ^= Flag.cf
        case .clearCarry: rflags &= ~Flag.cf
        case .setCarry: rflags |= Flag.cf
        case .clearInterrupts:
            guard cpl <= (rflags >> 12) & 3 else { throw CPUFault.gp() }
            rflags &= ~Flag.if
        case .setInterrupts:
            guard cpl <= (rflags >> 12) & 3 else { throw CPUFault.gp() }
            // STI counts itself and the next instruction: interrupts are taken after both have completed.
            if rflags & Flag.if == 0 { interruptShadowEnd = instructions &+ 2 }
            rflags |= Flag.if
        case .clearDirection: rflags &= ~Flag.df
        case .setDirection: rflags |= Flag.df
        case .legacyOneByte:
            return try executeLegacyOneByte(&i, op)
        case .vex:
            // False in virtual-8086 mode, where C4/C5 stay LES/LDS.
            guard try vexInstruction(&i, op) else { return try executeLegacyOneByte(&i, op) }
        default:
            throw CPUFault.ud   // a 0F-map handler: step never sends one here
        }
        rip = i.ip
        return .normal
    }

    func signedMultiply(_ a: UInt64, _ b: UInt64, size: Int) throws -> UInt64 {
        let x = Int64(bitPattern: signExtend(a, from: size)), y = Int64(bitPattern: signExtend(b, from: size))
        let (high, low) = x.multipliedFullWidth(by: y)
        let result = low & Flag.mask(size)
        let overflow = size == 8 ? high != (Int64(bitPattern: low) < 0 ? -1 : 0) : signExtend(result, from: size) != UInt64(bitPattern: x &* y)
        setArithmeticFlags(overflow ? Flag.cf | Flag.of : 0, mask: Flag.cf | Flag.of)
        return result
    }

    /// Iterations of one REP before the CPU looks up (kicks, other exits), as hardware opens interrupt windows.
    static let repeatBatch = 65_536

    /// MOVS, STOS, LODS, CMPS, SCAS with an optional REP prefix; each iteration commits RSI/RDI/RCX so a fault
    /// restarts exactly where it stopped. Returns false when a repeated instruction stopped early: after a device
    /// access (each one is its own exit) or after a batch of iterations.
    private func stringInstruction(_ i: inout Instruction, _ op: Int) throws -> Bool {
        let width = op & 1 == 0 ? 1 : i.operandSize
        let addressMask = Flag.mask(i.addressSize)
        let step = flag(Flag.df) ? UInt64(0) &- UInt64(width) : UInt64(width)
        let repeated = i.repeatPrefix != 0
        let compares = op == 0xA6 || op == 0xA7 || op == 0xAE || op == 0xAF
        var iterations = 0
        while !repeated || register(1, size: i.addressSize) != 0 {
            if repeated && (iterations == Self.repeatBatch || pendingWrite != nil) { return false }
            iterations += 1
            let si = gpr[6] & addressMask, di = gpr[7] & addressMask
            switch op {
            case 0xA6, 0xA7:
                let source = try read(i.segment ?? .ds, si, size: width)
                let destination = try read(.es, di, size: width)
                setArithmeticFlags(Flag.sub(source, destination, borrow: 0, width).1)
                setRegister(6, size: i.addressSize, si &+ step)
                setRegister(7, size: i.addressSize, di &+ step)
            case 0xAE, 0xAF:
                let destination = try read(.es, di, size: width)
                setArithmeticFlags(Flag.sub(register(0, size: width), destination, borrow: 0, width).1)
                setRegister(7, size: i.addressSize, di &+ step)
            case 0xA4, 0xA5:
                let value = try read(i.segment ?? .ds, si, size: width)
                try write(.es, di, size: width, value)
                setRegister(6, size: i.addressSize, si &+ step)
                setRegister(7, size: i.addressSize, di &+ step)
            case 0xAA, 0xAB:
                try write(.es, di, size: width, register(0, size: width))
                setRegister(7, size: i.addressSize, di &+ step)
            default:
                setRegister(0, size: width, try read(i.segment ?? .ds, si, size: width))
                setRegister(6, size: i.addressSize, si &+ step)
            }
            guard repeated else { break }
            setRegister(1, size: i.addressSize, register(1, size: i.addressSize) &- 1)
            // REPE stops on a difference, REPNE on a match (CMPS and SCAS only).
            if compares && flag(Flag.zf) != (i.repeatPrefix == 0xF3) { break }
        }
        return true
    }

    /// RETF (Linux's start-up uses LRETQ to load CS): pops the return address and CS, and for a return to an outer
    /// privilege level also RSP and SS. Faults leave RSP as it was, so the instruction restarts.
    private func farReturn(_ i: Instruction, release: UInt64) throws {
        let width = i.operandSize
        let savedRSP = gpr[4]
        do {
            let newRIP = try pop(size: width)
            let selector = UInt16(try pop(size: width) & 0xFFFF)
            gpr[4] = (gpr[4] & ~stackAddressMask) | ((gpr[4] &+ release) & stackAddressMask)
            let outer = protectedMode && UInt64(selector & 3) > cpl
            var newRSP: UInt64 = 0, newSS: UInt16 = 0
            if outer {
                newRSP = try pop(size: width)
                newSS = UInt16(try pop(size: width) & 0xFFFF)
            }
            try loadSegment(.cs, selector: selector)
            if outer {
                try loadSegment(.ss, selector: newSS)   // CS is loaded: the checks see the new CPL and mode
                gpr[4] = newRSP &+ release
                nullSegmentsTheNewLevelMayNotUse()
            }
            guard !is64BitCode || isCanonical(newRIP) else { throw CPUFault.gp() }
            rip = newRIP & (width == 8 ? ~0 : Flag.mask(width))
        } catch {
            gpr[4] = savedRSP
            throw error
        }
        decoded.flushAll()   // CS changed: the decoding mode may have too
    }

    /// IN/OUT/INS/OUTS with CPL > IOPL are allowed only for ports whose bits are clear in the TSS's I/O permission
    /// bitmap; a missing bitmap (its base past the TSS limit) forbids every port: #GP(0).
    func checkIOPermission(port: UInt64, size: Int) throws {
        guard protectedMode, UInt64(cpl) > (rflags >> 12) & 3 else { return }
        let bitmap = try readSystem(sregs.tr.base &+ 0x66, size: 2)
        let byte = bitmap &+ port / 8
        guard byte &+ 1 <= UInt64(sregs.tr.limit) else { throw CPUFault.gp() }
        let bits = try readSystem(sregs.tr.base &+ byte, size: 2)
        guard (bits >> (port % 8)) & ((1 << UInt64(size)) - 1) == 0 else { throw CPUFault.gp() }
    }
}

extension CPUCore {
    /// #UD for an opcode the interpreter has no case for, remembered for the VM log (it may be undefined on hardware
    /// too, or one the software CPU lacks).
    func notImplemented(_ opcode: UInt64, _ i: Instruction) -> CPUFault {
        lastNotImplemented = (opcode, i.start)
        return .ud
    }
}
