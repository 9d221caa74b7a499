public import ApusCore

/// The LAPIC state as an xAPIC register page and back: how a LAPIC kept by the backend (KVM's, in the kernel) and
/// this model's saved state become one another, so a machine suspended on one backend resumes on the other.
///
/// The page holds the architectural registers only. What it lacks comes from elsewhere: IA32_APIC_BASE (the vCPU's
/// special registers), IA32_TSC_DEADLINE (an MSR), and pending NMI/INIT/SIPI (the vCPU's events, not carried across
/// backends). The ID register is in the xAPIC format (ID in bits 31:24) in both modes, as KVM keeps it without
/// KVM_CAP_X2APIC_API. The timer's current count stands for the time left: one count is `divisor` nanoseconds on
/// both sides (a 1 GHz APIC bus clock, KVM's too).
extension LocalAPICState {
    /// A saved state (`timerRemainingAtSave` set, `timerDue` nil, as `LocalAPIC.saveState` gives) from a page.
    /// `tscDeadlineRemaining`: how many nanoseconds an armed TSC deadline had left, which only the caller can work out
    /// (0: due at once).
    public init(registerPage page: APICRegisterPage, baseMSR: UInt64, tscDeadline: UInt64,
                tscDeadlineRemaining: UInt64 = 0) {
        self.init(id: page[Int(APICRegister.id)] >> 24, bootstrap: baseMSR & APICBits.baseBSP != 0)
        self.baseMSR = baseMSR
        taskPriority = page[Int(APICRegister.taskPriority)] & 0xFF
        logicalDestination = page[Int(APICRegister.logicalDestination)]
        destinationFormat = page[Int(APICRegister.destinationFormat)] | 0x0FFF_FFFF
        spuriousVector = page[Int(APICRegister.spuriousVector)] & 0x3FF
        inService = Self.vectors(in: page, at: APICRegister.inService)
        triggerMode = Self.vectors(in: page, at: APICRegister.triggerMode)
        interruptRequest = Self.vectors(in: page, at: APICRegister.interruptRequest)
        errorStatus = page[Int(APICRegister.errorStatus)]
        commandLow = page[Int(APICRegister.commandLow)] & ~(1 << 12)
        commandHigh = page[Int(APICRegister.commandHigh)]
        lvt = (0..<Self.lvtCount).map { page[Int(APICRegister.lvtTimer) + 16 * $0] }
        timerInitialCount = page[Int(APICRegister.timerInitialCount)]
        timerDivide = page[Int(APICRegister.timerDivide)] & 0xB
        timerDue = nil
        if timerMode == .tscDeadline {
            self.tscDeadline = tscDeadline
            timerRemainingAtSave = tscDeadline == 0 ? nil : tscDeadlineRemaining
        } else {
            let count = UInt64(page[Int(APICRegister.timerCurrentCount)])
            let vector = UInt8(truncatingIfNeeded: lvt[Self.lvtIndexTimer])
            if count == 0, timerMode == .oneShot, timerInitialCount != 0,
               !interruptRequest[vector], !inService[vector] {
                // An armed one-shot that reads expired with its vector nowhere: KVM counts an expiry it has not
                // injected yet outside the page (it injects on the next KVM_RUN), so it may still be owed. Due at
                // once: a guest waiting for it gets it (otherwise it would wait forever); one that already took it
                // sees one extra tick, the lesser wrong.
                timerRemainingAtSave = 0
            } else {
                timerRemainingAtSave = count == 0 ? nil : count &* divisor
            }
        }
    }

    /// The page of a saved state (as `LocalAPIC.saveState` gives it). Registers the CPU computes (PPR, APR) are
    /// filled in too; a backend recomputes them anyway.
    public var registerPage: APICRegisterPage {
        var page = APICRegisterPage()
        page[Int(APICRegister.id)] = id << 24
        page[Int(APICRegister.version)] = Self.version
        page[Int(APICRegister.taskPriority)] = taskPriority
        page[Int(APICRegister.arbitrationPriority)] = arbitrationPriority
        page[Int(APICRegister.processorPriority)] = processorPriority
        page[Int(APICRegister.logicalDestination)] = logicalDestination
        page[Int(APICRegister.destinationFormat)] = destinationFormat
        page[Int(APICRegister.spuriousVector)] = spuriousVector
        for index in 0..<8 {
            page[Int(APICRegister.inService) + 16 * index] = inService.register(index)
            page[Int(APICRegister.triggerMode) + 16 * index] = triggerMode.register(index)
            page[Int(APICRegister.interruptRequest) + 16 * index] = interruptRequest.register(index)
        }
        page[Int(APICRegister.errorStatus)] = errorStatus
        page[Int(APICRegister.commandLow)] = commandLow
        page[Int(APICRegister.commandHigh)] = commandHigh
        for (index, entry) in lvt.enumerated() { page[Int(APICRegister.lvtTimer) + 16 * index] = entry }
        page[Int(APICRegister.timerInitialCount)] = timerInitialCount
        page[Int(APICRegister.timerDivide)] = timerDivide
        if timerMode != .tscDeadline, let remaining = timerRemainingAtSave, remaining > 0 {
            let counts = (remaining + divisor - 1) / divisor
            page[Int(APICRegister.timerCurrentCount)] = UInt32(min(counts, UInt64(timerInitialCount)))
        }
        return page
    }

    private static func vectors(in page: APICRegisterPage, at base: UInt32) -> VectorSet {
        var set = VectorSet()
        for index in 0..<4 {
            let low = UInt64(page[Int(base) + 32 * index]), high = UInt64(page[Int(base) + 32 * index + 16])
            set.words[index] = low | high << 32
        }
        return set
    }
}
