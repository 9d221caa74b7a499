/// The APIC timer: one-shot and periodic counts at the bus clock over the divider, and the TSC deadline.
extension LocalAPICState {
    public var timerMode: APICTimerMode { APICTimerMode(rawValue: (lvt[Self.lvtIndexTimer] >> 17) & 3) ?? .oneShot }

    /// Divide configuration bits 3,1:0 (SDM figure 11-10): 2, 4, ... 128, and 1 for 0b111.
    var divisor: UInt64 {
        let code = (timerDivide & 3) | ((timerDivide & 8) >> 1)
        return (1 << UInt64((code + 1) & 7)) * Self.timerNanosecondsPerTick
    }

    /// One full count, in nanoseconds.
    var period: UInt64 { UInt64(timerInitialCount) &* divisor }

    public func currentCount(now: UInt64) -> UInt32 {
        guard timerMode != .tscDeadline, let due = timerDue, due > now else { return 0 }
        return UInt32(min(UInt64(timerInitialCount), (due - now + divisor - 1) / divisor))
    }

    /// IA32_TSC_DEADLINE: armed only in TSC-deadline mode (writes in other modes are ignored, SDM 11.5.4.1).
    public mutating func armTSCDeadline(raw: UInt64, dueAt nanoseconds: UInt64) {
        guard timerMode == .tscDeadline else { return }
        tscDeadline = raw
        timerDue = raw == 0 ? nil : nanoseconds
    }

    /// Fires the timer if its time has come: one interrupt however many periods passed (a vCPU that was not
    /// running does not get a burst). Returns the next due time.
    public mutating func serviceTimer(now: UInt64) -> UInt64? {
        guard let due = timerDue, now >= due else { return timerDue }
        switch timerMode {
        case .periodic where period > 0:
            let missed = (now - due) / period
            timerDue = due &+ (missed + 1) &* period
        case .tscDeadline:
            timerDue = nil
            tscDeadline = 0
        default:
            timerDue = nil
        }
        fireLVT(Self.lvtIndexTimer)
        return timerDue
    }
}
