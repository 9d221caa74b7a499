import ApusCore

/// IRET (SDM Vol. 2, IRET/IRETD/IRETQ): back from a handler to the interrupted code.
extension CPUCore {
    /// Real mode pops IP, CS and FLAGS. Protected mode also pops SS:ESP when it returns to an outer privilege level,
    /// and 64-bit code always pops SS:RSP. EFLAGS follow privilege: IOPL changes only at CPL 0, IF only when CPL <=
    /// IOPL, VM/VIF/VIP never from outside CPL 0. A task return (NT set) and a return into virtual-8086 mode are not
    /// modelled: the guest gets #UD and the VM log says why. A fault restores RSP and the segments, so IRET restarts.
    func interruptReturn(_ i: Instruction) throws {
        decoded.flushAll()   // serializing
        let width = is64BitCode ? (i.rexW ? 8 : 4) : i.operandSize
        let savedRSP = gpr[4], savedSegments = sregs
        do {
            try returnFromInterrupt(width: width)
        } catch {
            gpr[4] = savedRSP
            if sregs != savedSegments { sregs = savedSegments }
            throw error
        }
    }

    private func returnFromInterrupt(width: Int) throws {
        if protectedMode && rflags & Flag.nt != 0 {
            guard !longMode else { throw CPUFault.gp() }
            lastUnsupported = "IRET with EFLAGS.NT set returns to another task: task switching is not modelled; "
                + "the guest gets #UD"
            throw CPUFault.ud
        }
        let newRIP = try pop(size: width)
        let selector = UInt16(try pop(size: width) & 0xFFFF)
        let image = try pop(size: width)
        guard protectedMode else {
            try loadSegment(.cs, selector: selector)
            // A 32-bit IRET in real mode keeps VM, VIF and VIP (SDM: tempEFLAGS AND 257FD5H).
            let writable: UInt64 = width == 2 ? 0xFFFF : 0x0025_7FD5
            rflags = (rflags & ~writable) | (image & writable) | Flag.fixed
            rip = newRIP & Flag.mask(width)
            return
        }
        let oldCPL = cpl
        if !longMode && width == 4 && image & Flag.vm != 0 && oldCPL == 0 {
            lastUnsupported = "IRET into virtual-8086 mode (EFLAGS.VM set): virtual-8086 mode is not modelled; "
                + "the guest gets #UD"
            throw CPUFault.ud
        }
        let newCPL = UInt8(selector & 3)
        guard selector & 0xFFFC != 0, newCPL >= oldCPL else { throw CPUFault.gp(UInt32(selector & 0xFFFC)) }
        let popsStack = is64BitCode || newCPL > oldCPL
        var newRSP: UInt64 = 0, newSS: UInt16 = 0
        if popsStack {
            newRSP = try pop(size: width)
            newSS = UInt16(try pop(size: width) & 0xFFFF)
        }
        let oldIOPL = (rflags & Flag.iopl) >> 12
        try loadSegment(.cs, selector: selector)
        if sregs.cs.l && longMode {
            guard isCanonical(newRIP) else { throw CPUFault.gp() }
        } else {
            guard newRIP & Flag.mask(width) <= UInt64(sregs.cs.limit) else { throw CPUFault.gp() }
        }
        if popsStack {
            try loadSegment(.ss, selector: newSS)   // CS is loaded: the checks see the new CPL and mode
            gpr[4] = newRSP
        }
        if newCPL > oldCPL { nullSegmentsTheNewLevelMayNotUse() }
        var writable = Flag.arithmetic | Flag.tf | Flag.df | Flag.nt | Flag.rf | Flag.ac | Flag.id
        if oldCPL == 0 {
            writable |= Flag.iopl | Flag.if | Flag.vif | Flag.vip
        } else if oldCPL <= oldIOPL {
            writable |= Flag.if
        }
        if width == 2 { writable &= 0xFFFF }
        rflags = (rflags & ~writable) | (image & writable) | Flag.fixed
        rip = newRIP & Flag.mask(width)
    }

    /// After a return to an outer privilege level, DS, ES, FS and GS holding a data or non-conforming code segment
    /// more privileged than the new CPL become null, so the outer code cannot keep using them (SDM: RET, IRET).
    func nullSegmentsTheNewLevelMayNotUse() {
        for register in [SegmentRegister.ds, .es, .fs, .gs] {
            let segment = self[register]
            guard !segment.unusable, segment.selector & 0xFFFC != 0 else { continue }
            let conformingCode = segment.type & 0xC == 0xC
            if segment.dpl < cpl && !conformingCode {
                self[register] = Segment(base: 0, limit: 0, selector: 0, type: 0, present: false, unusable: true)
            }
        }
    }
}
