import ApusCore

/// Interrupts and exceptions through a protected-mode IDT outside long mode (SDM Vol. 3, 6.12): 286 (16-bit) and 386
/// (32-bit) interrupt and trap gates, handled at the same privilege level or inward on the stack the TSS names.
/// Task gates would switch tasks, which this CPU does not model.
extension CPUCore {
    func deliverThroughProtectedModeGate(vector: UInt8, gate low: UInt64, errorCode: UInt32?, returnRIP: UInt64) throws {
        let gateError = UInt32(vector) * 8 + 2
        let type = (low >> 40) & 0xF
        let width: Int
        switch type {
        case 0x6, 0x7: width = 2
        case 0xE, 0xF: width = 4
        case 0x5:
            lastUnsupported = "a task gate for vector \(vector): task switching is not modelled; the guest gets #GP"
            throw CPUFault.gp(gateError)
        default:
            throw CPUFault.gp(gateError)
        }
        guard (low >> 47) & 1 != 0 else { throw CPUFault(vector: .segmentNotPresent, errorCode: gateError) }
        let selector = UInt16((low >> 16) & 0xFFFF)
        let code = try gateTargetCodeSegment(selector)
        let inward = code.type & 4 == 0 && code.dpl < cpl
        var handler = code
        handler.selector = (selector & 0xFFFC) | UInt16(inward ? code.dpl : cpl)
        var target = low & 0xFFFF
        if width == 4 { target |= (low >> 32) & 0xFFFF_0000 }
        guard target <= UInt64(handler.limit) else { throw CPUFault.gp() }

        let savedSegments = sregs, savedRSP = gpr[4]
        let oldCS = UInt64(sregs.cs.selector), oldSS = UInt64(sregs.ss.selector), oldFlags = rflags
        let oldSP = gpr[4] & stackAddressMask
        do {
            if inward {
                let stack = try innerStack(level: code.dpl)
                sregs.ss = stack.segment
                gpr[4] = stack.pointer
                try push(oldSS, size: width)
                try push(oldSP, size: width)
            }
            sregs.cs = handler
            try push(oldFlags & Flag.mask(width), size: width)
            try push(oldCS, size: width)
            try push(returnRIP & Flag.mask(width), size: width)
            if let errorCode { try push(UInt64(errorCode), size: width) }
        } catch {
            sregs = savedSegments
            gpr[4] = savedRSP
            throw error
        }
        if type & 1 == 0 { rflags &= ~Flag.if }
        rflags &= ~(Flag.tf | Flag.nt | Flag.rf | Flag.vm)
        rip = target
    }

    /// The code segment a gate (interrupt, trap or call gate) names: present, and with DPL at most CPL; a null
    /// selector is #GP(0), anything else wrong #GP or #NP with the selector.
    func gateTargetCodeSegment(_ selector: UInt16) throws -> Segment {
        guard selector & 0xFFFC != 0 else { throw CPUFault.gp() }
        let error = UInt32(selector & 0xFFFC)
        let code = try readDescriptor(selector)
        guard code.s, code.type & 8 != 0, code.dpl <= cpl else { throw CPUFault.gp(error) }
        guard code.present else { throw CPUFault(vector: .segmentNotPresent, errorCode: error) }
        return code
    }

    /// The stack for privilege level `level` from the current TSS (SDM Vol. 3, 7.2.1): SS0-2 and ESP0-2 in a 32-bit
    /// TSS, SS0-2 and SP0-2 in a 16-bit one. The stack segment must be a present, writable data segment at that
    /// level; otherwise #TS (or #SS when it is not present), as on hardware.
    func innerStack(level: UInt8) throws -> (segment: Segment, pointer: UInt64) {
        let tssError = UInt32(sregs.tr.selector & 0xFFFC)
        let wide = sregs.tr.type & 8 != 0
        let entry = wide ? UInt64(level) * 8 + 4 : UInt64(level) * 4 + 2
        let pointerSize = wide ? 4 : 2
        guard entry + UInt64(pointerSize) + 1 <= UInt64(sregs.tr.limit) else {
            throw CPUFault(vector: .invalidTSS, errorCode: tssError)
        }
        let pointer = try readSystem(sregs.tr.base &+ entry, size: pointerSize)
        let selector = UInt16(try readSystem(sregs.tr.base &+ entry &+ UInt64(pointerSize), size: 2))
        let stackError = UInt32(selector & 0xFFFC)
        guard selector & 0xFFFC != 0 else { throw CPUFault(vector: .invalidTSS, errorCode: stackError) }
        var segment = try readDescriptor(selector)
        guard segment.s, segment.type & 0xA == 0x2, segment.dpl == level, UInt8(selector & 3) == level else {
            throw CPUFault(vector: .invalidTSS, errorCode: stackError)
        }
        guard segment.present else { throw CPUFault(vector: .stackFault, errorCode: stackError) }
        segment.selector = selector
        return (segment, pointer)
    }
}
