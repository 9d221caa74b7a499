import ApusCore

/// The one-byte opcodes that ordinary 64-bit code never runs: segment-register pushes and pops, PUSHA/POPA, the BCD
/// adjustments, BOUND, far CALL, LES/LDS, INTO, SALC, INT1 and the moffs MOVs. They live outside the hot switch
/// (reached from its default) so the common opcodes keep their place at the front of its compare chain.
extension CPUCore {
    /// Executes `op` and commits RIP. The dispatch table sends only the modes the maps allow (most of these are #UD
    /// in 64-bit mode).
    func executeLegacyOneByte(_ i: inout Instruction, _ op: Int) throws -> StepResult {
        let size = i.operandSize
        switch op {
        case 0x06, 0x0E, 0x16, 0x1E:
            let segment = SegmentRegister(rawValue: op >> 3)!
            try push(UInt64(self[segment].selector), size: stackSize(i))
        case 0x07, 0x17, 0x1F:
            try popSegment(SegmentRegister(rawValue: op >> 3)!, i)
        case 0x27, 0x2F:
            decimalAdjust(subtract: op == 0x2F)
        case 0x37, 0x3F:
            asciiAdjust(subtract: op == 0x3F)
        case 0x60:
            try pushAll(size: size)
        case 0x61:
            try popAll(size: size)
        case 0x62:
            try checkBounds(&i)
        case 0x63:
            try adjustRequestedPrivilege(&i)
        case 0x82:
            // The undocumented-then-documented alias of 80 (ALU r/m8, imm8), valid outside 64-bit mode.
            let (modrm, operand) = try decodeModRM(&i)
            let imm = try fetch8(&i)
            let current = modrm.reg & 7 == 7 ? try read(operand, size: 1, i) : try readForUpdate(operand, size: 1, i)
            let (value, store) = alu(modrm.reg & 7, current, imm, size: 1)
            if store { try write(operand, size: 1, value, i) }
        case 0x9A:
            let offset = try fetch(&i, size: size)
            let selector = UInt16(try fetch(&i, size: 2))
            try farCall(selector: selector, offset: offset, size: size, returnIP: i.ip)
            return .normal
        case 0xA0...0xA3:
            try moveOffset(&i, op)
        case 0xC4, 0xC5:
            try loadFarPointer(&i, op == 0xC4 ? .es : .ds)
        case 0xCE:
            guard flag(Flag.of) else { break }
            try softwareInterrupt(vector: 4, returnIP: i.ip)
            return .normal
        case 0xD4:
            let base = try fetch8(&i)
            guard base != 0 else { throw CPUFault.de }
            let al = gpr[0] & 0xFF
            setRegister(0, size: 2, (al / base) << 8 | (al % base))
            setArithmeticFlags(Flag.result(al % base, 1))
        case 0xD5:
            let base = try fetch8(&i)
            let al = (gpr[0] & 0xFF &+ ((gpr[0] >> 8) & 0xFF) &* base) & 0xFF
            setRegister(0, size: 2, al)
            setArithmeticFlags(Flag.result(al, 1))
        case 0xD6:
            setRegister(0, size: 1, flag(Flag.cf) ? 0xFF : 0)
        case 0xF1:
            // INT1 (ICEBP): a #DB trap through the IDT without the gate-privilege check INT n makes; it counts as
            // a hardware event, so a fault while delivering it carries EXT (SDM Vol. 3, 6.13).
            do {
                try deliverRestoringOnFault(vector: 1, errorCode: nil, returnRIP: i.ip)
            } catch let fault as CPUFault {
                throw fault.duringExternalEvent
            }
            return .normal
        default:
            throw notImplemented(UInt64(op), i)
        }
        rip = i.ip
        return .normal
    }

    /// POP ES/SS/DS (and FS/GS from the 0F map): loads the selector, then moves the stack pointer, so a bad
    /// selector leaves RSP unchanged. POP SS blocks interrupts for one instruction, as MOV SS does.
    func popSegment(_ segment: SegmentRegister, _ i: Instruction) throws {
        let width = stackSize(i)
        let value = try read(.ss, gpr[4] & stackAddressMask, size: width)
        try loadSegment(segment, selector: UInt16(value & 0xFFFF))
        // The new SS (POP SS) may have a different B bit: the pop moves the pointer by the old width rules.
        gpr[4] = (gpr[4] & ~stackAddressMask) | ((gpr[4] &+ UInt64(width)) & stackAddressMask)
        if segment == .ss { interruptShadowEnd = instructions &+ 2 }
    }

    /// DAA / DAS (SDM Vol. 2A): adjust AL after a packed-BCD addition or subtraction. OF is undefined; it is cleared.
    func decimalAdjust(subtract: Bool) {
        let oldAL = gpr[0] & 0xFF, oldCF = flag(Flag.cf)
        var al = oldAL, carry = false, adjust = false
        if al & 0xF > 9 || flag(Flag.af) {
            let adjusted = subtract ? al &- 6 : al &+ 6
            carry = oldCF || adjusted > 0xFF
            al = adjusted & 0xFF
            adjust = true
        }
        if oldAL > 0x99 || oldCF {
            al = (subtract ? al &- 0x60 : al &+ 0x60) & 0xFF
            carry = true
        } else if !subtract {
            carry = false
        }
        setRegister(0, size: 1, al)
        setArithmeticFlags(Flag.result(al, 1) | (carry ? Flag.cf : 0) | (adjust ? Flag.af : 0))
    }

    /// AAA / AAS: adjust AX after an unpacked-BCD addition or subtraction (the P6-and-later AX +/- 106h form).
    func asciiAdjust(subtract: Bool) {
        var ax = gpr[0] & 0xFFFF
        let adjust = ax & 0xF > 9 || flag(Flag.af)
        if adjust {
            ax = (subtract ? ax &- 0x106 : ax &+ 0x106) & 0xFFFF   // AX -/+ 6 carries into AH, then AH -/+ 1
        }
        ax = ax & 0xFF0F
        setRegister(0, size: 2, ax)
        // OF, SF, ZF and PF are undefined: they follow AL here.
        setArithmeticFlags(Flag.result(ax & 0xFF, 1) | (adjust ? Flag.cf | Flag.af : 0))
    }

    /// PUSHA/PUSHAD: AX CX DX BX, the SP before the first push, BP SI DI. A fault restores SP (restartable).
    func pushAll(size: Int) throws {
        let saved = gpr[4]
        do {
            for index in 0..<8 { try push(index == 4 ? saved : gpr[index], size: size) }
        } catch {
            gpr[4] = saved
            throw error
        }
    }

    /// POPA/POPAD: DI SI BP, skips the saved SP, BX DX CX AX. All values are read before any register changes.
    func popAll(size: Int) throws {
        let base = gpr[4] & stackAddressMask
        var values: [UInt64] = []
        for slot in 0..<8 { values.append(try read(.ss, (base &+ UInt64(slot * size)) & stackAddressMask, size: size)) }
        for (slot, index) in [7, 6, 5, 4, 3, 2, 1, 0].enumerated() where index != 4 {
            setRegister(index, size: size, values[slot])
        }
        gpr[4] = (gpr[4] & ~stackAddressMask) | ((base &+ UInt64(8 * size)) & stackAddressMask)
    }

    /// BOUND r, m: #BR when the signed index lies outside [lower, upper] read from memory; a register operand is #UD.
    func checkBounds(_ i: inout Instruction) throws {
        let size = i.operandSize
        let (modrm, operand) = try decodeModRM(&i)
        guard case .memory(let segment, let offset, _) = operand else { throw CPUFault.ud }
        let lower = Int64(bitPattern: signExtend(try read(segment, offset, size: size), from: size))
        let upper = Int64(bitPattern: signExtend(try read(segment, (offset &+ UInt64(size)) & Flag.mask(i.addressSize),
                                                          size: size), from: size))
        let index = Int64(bitPattern: signExtend(register(modrm.reg, size: size), from: size))
        if index < lower || index > upper { throw CPUFault(vector: .boundRange, errorCode: nil) }
    }

    /// MOV AL/rAX <-> moffs: the offset is an address-size immediate (8 bytes in 64-bit mode unless 67h).
    func moveOffset(_ i: inout Instruction, _ op: Int) throws {
        let offset = try fetch(&i, size: i.addressSize)
        let segment = i.segment ?? .ds
        let width = op & 1 == 0 ? 1 : i.operandSize
        if op <= 0xA1 {
            setRegister(0, size: width, try read(segment, offset, size: width))
        } else {
            try write(segment, offset, size: width, register(0, size: width))
        }
    }

    /// LES/LDS (and LSS/LFS/LGS from the 0F map): r <- offset, sreg <- selector from m16:16/32/64. The segment is
    /// loaded first, so a bad selector leaves the register unchanged.
    func loadFarPointer(_ i: inout Instruction, _ segment: SegmentRegister) throws {
        let size = i.operandSize
        let (modrm, operand) = try decodeModRM(&i)
        guard case .memory = operand else { throw CPUFault.ud }
        let (memorySegment, offset) = try effectiveOffset(operand, i)
        let pointer = try read(memorySegment, offset, size: size)
        let selector = try read(memorySegment, (offset &+ UInt64(size)) & Flag.mask(i.addressSize), size: 2)
        try loadSegment(segment, selector: UInt16(selector))
        if segment == .ss { interruptShadowEnd = instructions &+ 2 }
        setRegister(modrm.reg, size: size, pointer)
    }

    /// INT n and INTO from protected mode check the gate's DPL against CPL (#GP(vector * 8 + 2)); exceptions and
    /// INT1 do not.
    func softwareInterrupt(vector: UInt8, returnIP: UInt64) throws {
        if protectedMode {
            let gateSize: UInt64 = longMode ? 16 : 8
            let entry = UInt64(vector) * gateSize
            if entry + gateSize - 1 <= UInt64(sregs.idt.limit) {
                let low = try readSystem(sregs.idt.base &+ entry, size: 8)
                guard (low >> 45) & 3 >= UInt64(cpl) else { throw CPUFault.gp(UInt32(vector) * 8 + 2) }
            }
        }
        // A fault while delivering leaves RIP at the INT instruction (it restarts), without EXT: the program
        // asked for this interrupt.
        try deliverRestoringOnFault(vector: vector, errorCode: nil, returnRIP: returnIP)
    }
}
