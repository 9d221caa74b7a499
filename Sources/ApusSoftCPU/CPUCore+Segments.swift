import ApusCore

/// Loading segment registers: selector × 16 in real mode; in protected and long mode a descriptor from the GDT or
/// LDT, checked as the SDM's MOV, POP, LDS/LES/LFS/LGS/LSS, RET and IRET pseudo-code checks it.
extension CPUCore {
    func loadSegment(_ register: SegmentRegister, selector: UInt16) throws {
        guard protectedMode else {
            var segment = self[register]
            segment.selector = selector
            segment.base = UInt64(selector) << 4
            self[register] = segment
            return
        }
        switch register {
        case .ss: sregs.ss = try stackSegment(selector)
        case .cs: sregs.cs = try returnCodeSegment(selector)
        default: self[register] = try dataSegment(selector)
        }
    }

    /// DS, ES, FS or GS: null loads an unusable segment; otherwise a data or readable code segment, and a data or
    /// non-conforming code segment only if max(CPL, RPL) <= DPL: #GP(selector), or #NP(selector) when not present.
    private func dataSegment(_ selector: UInt16) throws -> Segment {
        if selector & 0xFFFC == 0 {
            return Segment(base: 0, limit: 0, selector: selector, type: 0, present: false, unusable: true)
        }
        let error = UInt32(selector & 0xFFFC)
        let descriptor = try readDescriptor(selector)
        let code = descriptor.type & 8 != 0
        guard descriptor.s, !code || descriptor.type & 2 != 0 else { throw CPUFault.gp(error) }
        let conformingCode = code && descriptor.type & 4 != 0
        if !conformingCode && max(cpl, UInt8(selector & 3)) > descriptor.dpl { throw CPUFault.gp(error) }
        guard descriptor.present else { throw CPUFault(vector: .segmentNotPresent, errorCode: error) }
        return try markAccessed(descriptor)
    }

    /// SS: a writable data segment with RPL = DPL = CPL: #GP(selector), or #SS(selector) when not present. Null is
    /// #GP(0), except in 64-bit mode below CPL 3 with RPL = CPL (the null SS interrupts and SYSCALL leave there).
    private func stackSegment(_ selector: UInt16) throws -> Segment {
        let rpl = UInt8(selector & 3)
        if selector & 0xFFFC == 0 {
            guard is64BitCode, cpl < 3, rpl == cpl else { throw CPUFault.gp() }
            return Segment(base: 0, limit: 0, selector: selector, type: 0, present: false, dpl: cpl, unusable: true)
        }
        let error = UInt32(selector & 0xFFFC)
        let descriptor = try readDescriptor(selector)
        guard rpl == cpl, descriptor.s, descriptor.type & 0xA == 0x2, descriptor.dpl == cpl else {
            throw CPUFault.gp(error)
        }
        guard descriptor.present else { throw CPUFault(vector: .stackFault, errorCode: error) }
        return try markAccessed(descriptor)
    }

    /// CS popped by a far RET or IRET (far CALL and JMP resolve their targets in CPUCore+FarTransfers): a code
    /// segment at the selector's RPL, which may not be more privileged than CPL; a conforming one with DPL <= RPL,
    /// a non-conforming one with DPL = RPL; in IA-32e mode not both L and D. #GP(0) for null, #GP(selector) for the
    /// rest, #NP(selector) when not present.
    private func returnCodeSegment(_ selector: UInt16) throws -> Segment {
        guard selector & 0xFFFC != 0 else { throw CPUFault.gp() }
        let error = UInt32(selector & 0xFFFC)
        let rpl = UInt8(selector & 3)
        let descriptor = try readDescriptor(selector)
        guard descriptor.s, descriptor.type & 8 != 0, rpl >= cpl else { throw CPUFault.gp(error) }
        if descriptor.type & 4 != 0 {
            guard descriptor.dpl <= rpl else { throw CPUFault.gp(error) }
        } else {
            guard descriptor.dpl == rpl else { throw CPUFault.gp(error) }
        }
        guard !(longMode && descriptor.l && descriptor.db) else { throw CPUFault.gp(error) }
        guard descriptor.present else { throw CPUFault(vector: .segmentNotPresent, errorCode: error) }
        return try markAccessed(descriptor)
    }
}
