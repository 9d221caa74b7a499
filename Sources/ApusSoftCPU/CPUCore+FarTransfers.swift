import ApusCore

/// Far CALL and far JMP (SDM Vol. 2A, CALL and JMP; Vol. 3A, 5.8): to a code segment of the same privilege
/// (conforming or not), or through a call gate, which a CALL may also use to enter a more privileged segment with
/// the stack switch the TSS provides. Task gates and TSS targets (task switches) are not modelled: #GP(selector).
extension CPUCore {
    /// Where a far transfer lands: the code segment as CS will hold it, the offset, how wide a CALL pushes, and the
    /// new privilege level when a call gate leads inward.
    struct FarTarget {
        var codeSegment: Segment
        var offset: UInt64
        var pushSize: Int
        var inwardLevel: UInt8?
        /// A 16/32-bit call gate's parameter count (doublewords or words copied to the new stack).
        var parameterCount = 0
    }

    func farCall(selector: UInt16, offset: UInt64, size: Int, returnIP: UInt64) throws {
        let savedRSP = gpr[4], savedCS = sregs.cs, savedSS = sregs.ss
        do {
            guard protectedMode else {
                try push(UInt64(sregs.cs.selector), size: size)
                try push(returnIP, size: size)
                try loadSegment(.cs, selector: selector)
                rip = offset & Flag.mask(size)
                return
            }
            let target = try resolveFarTarget(selector: selector, offset: offset, size: size, isCall: true)
            // The pushes go to the stack at the new privilege level (the inner one through an inward gate).
            sregs.cs = target.codeSegment
            if let level = target.inwardLevel { try switchStackInward(to: level, target) }
            try push(UInt64(savedCS.selector), size: target.pushSize)
            try push(returnIP, size: target.pushSize)
            rip = target.offset
        } catch {
            sregs.cs = savedCS
            sregs.ss = savedSS
            gpr[4] = savedRSP
            throw error
        }
        decoded.flushAll()   // CS changed: the decoding mode may have too
    }

    func farJump(selector: UInt16, offset: UInt64, size: Int) throws {
        guard protectedMode else {
            try loadSegment(.cs, selector: selector)
            rip = offset & Flag.mask(size)
            return
        }
        let target = try resolveFarTarget(selector: selector, offset: offset, size: size, isCall: false)
        sregs.cs = target.codeSegment
        rip = target.offset
        decoded.flushAll()
    }

    /// FF /3 (CALL m16:16/32/64) and FF /5 (JMP m16:...): the offset, then the selector, from memory.
    func farTransferThroughMemory(_ i: inout Instruction, _ operand: Operand, isCall: Bool) throws {
        guard case .memory = operand else { throw CPUFault.ud }
        let size = i.operandSize
        let (segment, offset) = try effectiveOffset(operand, i)
        let targetOffset = try read(segment, offset, size: size)
        let selector = UInt16(try read(segment, (offset &+ UInt64(size)) & Flag.mask(i.addressSize), size: 2))
        if isCall {
            try farCall(selector: selector, offset: targetOffset, size: size, returnIP: i.ip)
        } else {
            try farJump(selector: selector, offset: targetOffset, size: size)
        }
    }

    private func resolveFarTarget(selector: UInt16, offset: UInt64, size: Int, isCall: Bool) throws -> FarTarget {
        guard selector & 0xFFFC != 0 else { throw CPUFault.gp() }
        let error = UInt32(selector & 0xFFFC)
        let descriptor = try readDescriptor(selector)
        let rpl = UInt8(selector & 3)
        if descriptor.s {
            guard descriptor.type & 8 != 0 else { throw CPUFault.gp(error) }
            // L and D together are reserved in IA-32e mode; JMP and CALL check it before privilege and presence.
            guard !(longMode && descriptor.l && descriptor.db) else { throw CPUFault.gp(error) }
            try checkDirectCodeTarget(descriptor, rpl: rpl, error: error)
            var segment = try markAccessed(descriptor)
            segment.selector = (selector & 0xFFFC) | UInt16(cpl)
            return FarTarget(codeSegment: segment, offset: try checkedOffset(offset & Flag.mask(size), segment),
                             pushSize: size)
        }
        // A system descriptor: only call gates are followed (type 0xC; 0x4 is the 16-bit gate outside long mode).
        guard descriptor.type == 0xC || (descriptor.type == 0x4 && !longMode) else { throw CPUFault.gp(error) }
        guard descriptor.dpl >= cpl && descriptor.dpl >= rpl else { throw CPUFault.gp(error) }
        guard descriptor.present else { throw CPUFault(vector: .segmentNotPresent, errorCode: error) }
        let gate = try descriptorAddress(selector)
        let low = try readSystem(gate, size: 8)
        var gateOffset = low & 0xFFFF
        if descriptor.type == 0xC { gateOffset |= (low >> 32) & 0xFFFF_0000 }
        if longMode {
            _ = try descriptorAddress(selector, size: 16)   // the 16-byte gate must fit in its table
            let high = try readSystem(gate &+ 8, size: 8)
            guard (high >> 8) & 0x1F == 0 else { throw CPUFault.gp(error) }   // the upper half's type must be 0
            gateOffset |= (high & 0xFFFF_FFFF) << 32
        }
        let targetSelector = UInt16((low >> 16) & 0xFFFF)
        let targetError = UInt32(targetSelector & 0xFFFC)
        let code = try gateTargetCodeSegment(targetSelector)
        if longMode { guard code.l && !code.db else { throw CPUFault.gp(targetError) } }
        let conforming = code.type & 4 != 0
        let inward = !conforming && code.dpl < cpl
        guard isCall || !inward else { throw CPUFault.gp(targetError) }   // JMP never changes privilege
        let level = inward ? code.dpl : cpl
        var segment = try markAccessed(code)
        segment.selector = (targetSelector & 0xFFFC) | UInt16(level)
        let pushSize = longMode ? 8 : (descriptor.type == 0xC ? 4 : 2)
        return FarTarget(codeSegment: segment, offset: try checkedOffset(gateOffset, segment), pushSize: pushSize,
                         inwardLevel: inward ? level : nil, parameterCount: Int((low >> 32) & 0x1F))
    }

    /// A direct far transfer to a code segment: a conforming one at DPL <= CPL, a non-conforming one at DPL = CPL
    /// with RPL <= CPL.
    private func checkDirectCodeTarget(_ descriptor: Segment, rpl: UInt8, error: UInt32) throws {
        if descriptor.type & 4 != 0 {
            guard descriptor.dpl <= cpl else { throw CPUFault.gp(error) }
        } else {
            guard rpl <= cpl && descriptor.dpl == cpl else { throw CPUFault.gp(error) }
        }
        guard descriptor.present else { throw CPUFault(vector: .segmentNotPresent, errorCode: error) }
    }

    /// The target offset must lie within the new CS limit (outside 64-bit code) or be canonical (in it): #GP(0).
    private func checkedOffset(_ offset: UInt64, _ segment: Segment) throws -> UInt64 {
        if longMode && segment.l {
            guard isCanonical(offset) else { throw CPUFault.gp() }
        } else {
            guard offset <= UInt64(segment.limit) else { throw CPUFault.gp() }
        }
        return offset
    }

    /// A CALL through a gate into a more privileged segment: the inner stack comes from the TSS; the caller's SS and
    /// RSP are pushed on it, and a 16/32-bit gate copies its parameters from the outer stack.
    private func switchStackInward(to level: UInt8, _ target: FarTarget) throws {
        let outerSS = UInt64(sregs.ss.selector), outerRSP = gpr[4]
        // The outer stack's width, from the CS and SS of the caller (CS already holds the target).
        let outerStackMask: UInt64 = sregs.ss.db ? 0xFFFF_FFFF : 0xFFFF
        if longMode {
            let innerRSP = try taskStateStackPointer(at: 4 + UInt64(level) * 8)
            sregs.ss = Segment(selector: UInt16(level), present: false, unusable: true)
            gpr[4] = innerRSP
            try push(outerSS, size: 8)
            try push(outerRSP, size: 8)
            return
        }
        let width = target.pushSize
        var parameters: [UInt64] = []
        for index in 0..<target.parameterCount {
            let address = (outerRSP &+ UInt64(index * width)) & outerStackMask
            parameters.append(try read(.ss, address, size: width))
        }
        // The TSS's own format (16- or 32-bit) says where the inner stack is, whatever the gate's size.
        let (descriptor, innerSP) = try innerStack(level: level)
        sregs.ss = descriptor
        gpr[4] = innerSP
        try push(outerSS, size: width)
        try push(outerRSP & outerStackMask, size: width)
        for value in parameters.reversed() { try push(value, size: width) }
    }
}
