import ApusCore

/// Delivering exceptions and interrupts through the guest's IVT (real mode) or IDT (protected and long mode).
extension CPUCore {
    enum DeliveryOutcome { case delivered, tripleFault }

    /// Delivers `fault`, an exception the current instruction raised.
    func raise(_ fault: CPUFault) -> DeliveryOutcome { deliverException(fault) }

    /// Delivers external interrupt (or NMI) `vector` between two instructions; a fault on the way is delivered as
    /// that fault, with EXT set in its error code (an interrupt is benign: no double fault).
    func deliverExternal(_ vector: UInt8) -> DeliveryOutcome {
        do {
            try deliverRestoringOnFault(vector: vector, errorCode: nil, returnRIP: rip)
            return .delivered
        } catch let fault as CPUFault {
            return deliverException(fault.duringExternalEvent)
        } catch {
            return deliverException(CPUFault(vector: .doubleFault, errorCode: 0))
        }
    }

    /// Delivers `fault`; an exception while delivering it is handled as the SDM's Table 6-5 says (Vol. 3, 6.15): a
    /// contributory one during a contributory one, or a contributory one or page fault during a page fault, becomes
    /// #DF; any of those during #DF shuts the CPU down; every other pair is delivered serially. Either way the
    /// second exception's error code carries EXT.
    private func deliverException(_ fault: CPUFault) -> DeliveryOutcome {
        if fault.vector == .pageFault { sregs.cr2 = fault.address }
        let second: CPUFault
        do {
            try deliverRestoringOnFault(vector: fault.vector.rawValue, errorCode: fault.errorCode, returnRIP: rip)
            return .delivered
        } catch let nested as CPUFault {
            second = nested.duringExternalEvent
        } catch {
            second = CPUFault(vector: .doubleFault, errorCode: 0)
        }
        if fault.vector == .doubleFault { return .tripleFault }
        switch (fault.deliveryClass, second.deliveryClass) {
        case (.contributory, .contributory), (.pageFault, .contributory), (.pageFault, .pageFault):
            if second.vector == .pageFault { sregs.cr2 = second.address }
            return deliverException(CPUFault(vector: .doubleFault, errorCode: 0))
        default:
            return deliverException(second)
        }
    }

    /// `deliver`, leaving the stack pointer and segments as they were when it faults, so the fault that follows is
    /// delivered from the interrupted context.
    func deliverRestoringOnFault(vector: UInt8, errorCode: UInt32?, returnRIP: UInt64) throws {
        let savedRSP = gpr[4], savedSegments = sregs
        do {
            try deliver(vector: vector, errorCode: errorCode, returnRIP: returnRIP)
        } catch {
            gpr[4] = savedRSP
            if sregs != savedSegments { sregs = savedSegments }
            throw error
        }
    }

    /// Enters the handler for `vector` with the frame the SDM prescribes for the current mode (protected mode outside
    /// long mode: CPUCore+ProtectedModeGates).
    func deliver(vector: UInt8, errorCode: UInt32?, returnRIP: UInt64) throws {
        if !protectedMode {
            let entry = UInt64(vector) * 4
            guard entry + 3 <= UInt64(sregs.idt.limit) else { throw CPUFault.gp(UInt32(vector) * 8 + 2) }
            let vectorAddress = try readLinear(sregs.idt.base &+ entry, size: 4)
            try push(rflags & 0xFFFF, size: 2)
            try push(UInt64(sregs.cs.selector), size: 2)
            try push(returnRIP & 0xFFFF, size: 2)
            rflags &= ~(Flag.if | Flag.tf)
            try loadSegment(.cs, selector: UInt16(vectorAddress >> 16))
            rip = vectorAddress & 0xFFFF
            return
        }
        let gateSize: UInt64 = longMode ? 16 : 8
        let entry = UInt64(vector) * gateSize
        guard entry + gateSize - 1 <= UInt64(sregs.idt.limit) else { throw CPUFault.gp(UInt32(vector) * 8 + 2) }
        let low = try readSystem(sregs.idt.base &+ entry, size: 8)
        guard longMode else {
            try deliverThroughProtectedModeGate(vector: vector, gate: low, errorCode: errorCode, returnRIP: returnRIP)
            return
        }
        let high = try readSystem(sregs.idt.base &+ entry + 8, size: 8)
        let type = (low >> 40) & 0xF
        guard (low >> 47) & 1 != 0 else { throw CPUFault(vector: .segmentNotPresent, errorCode: UInt32(vector) * 8 + 2) }
        guard type == 0xE || type == 0xF else { throw CPUFault.gp(UInt32(vector) * 8 + 2) }
        let selector = UInt16((low >> 16) & 0xFFFF)
        var target = (low & 0xFFFF) | ((low >> 32) & 0xFFFF_0000)
        let oldCS = UInt64(sregs.cs.selector), oldFlags = rflags, oldSS = UInt64(sregs.ss.selector), oldRSP = gpr[4]
        let handlerSegment = try gateTargetCodeSegment(selector)
        // IA-32e mode enters handlers only in 64-bit code (L=1, D=0): #GP with the gate's IDT error code.
        guard handlerSegment.l && !handlerSegment.db else { throw CPUFault.gp(UInt32(vector) * 8 + 2) }
        target |= (high & 0xFFFF_FFFF) << 32
        guard isCanonical(target) else { throw CPUFault.gp() }
        // A non-conforming handler more privileged than CPL runs at its DPL on that level's stack (RSPn); any other
        // stays at CPL. An IST entry replaces the stack either way.
        let inward = handlerSegment.type & 4 == 0 && handlerSegment.dpl < cpl
        let level = inward ? handlerSegment.dpl : cpl
        let ist = (low >> 32) & 7
        if ist != 0 {
            gpr[4] = try taskStateStackPointer(at: 0x24 + (ist - 1) * 8)
        } else if inward {
            gpr[4] = try taskStateStackPointer(at: 4 + UInt64(level) * 8)
        }
        if inward { sregs.ss = Segment(selector: UInt16(level), present: false, unusable: true) }   // null, RPL = CPL
        gpr[4] &= ~0xF
        sregs.cs = handlerSegment
        sregs.cs.selector = selector & 0xFFFC | UInt16(level)
        try push(oldSS, size: 8)
        try push(oldRSP, size: 8)
        try push(oldFlags, size: 8)
        try push(oldCS, size: 8)
        try push(returnRIP, size: 8)
        if let errorCode { try push(UInt64(errorCode), size: 8) }
        if type == 0xE { rflags &= ~Flag.if }
        rflags &= ~(Flag.tf | Flag.nt | Flag.rf | Flag.vm)
        rip = target
    }

    /// RSP0-2 or an IST entry of the 64-bit TSS, at `offset`: beyond the TSS limit is #TS(TSS selector).
    func taskStateStackPointer(at offset: UInt64) throws -> UInt64 {
        guard offset + 7 <= UInt64(sregs.tr.limit) else {
            throw CPUFault(vector: .invalidTSS, errorCode: UInt32(sregs.tr.selector & 0xFFFC))
        }
        return try readSystem(sregs.tr.base &+ offset, size: 8)
    }
}
