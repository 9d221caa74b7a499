public import ApusCore

/// The register file as the xAPIC page and the x2APIC MSRs show it.
extension LocalAPICState {
    /// A 32-bit register at a 16-byte-aligned offset; nil for an offset with no register (reserved).
    public func readRegister(_ offset: UInt32, now: UInt64) -> UInt32? {
        switch offset {
        case APICRegister.id: return x2APICMode ? id : id << 24
        case APICRegister.version: return Self.version
        case APICRegister.taskPriority: return taskPriority
        case APICRegister.arbitrationPriority: return arbitrationPriority
        case APICRegister.processorPriority: return processorPriority
        case APICRegister.remoteRead: return 0
        case APICRegister.logicalDestination: return logicalDestination
        case APICRegister.destinationFormat: return x2APICMode ? nil : destinationFormat
        case APICRegister.spuriousVector: return spuriousVector
        case APICRegister.inService..<APICRegister.inService + 0x80: return inService.register(Int(offset - APICRegister.inService) >> 4)
        case APICRegister.triggerMode..<APICRegister.triggerMode + 0x80: return triggerMode.register(Int(offset - APICRegister.triggerMode) >> 4)
        case APICRegister.interruptRequest..<APICRegister.interruptRequest + 0x80:
            return interruptRequest.register(Int(offset - APICRegister.interruptRequest) >> 4)
        case APICRegister.errorStatus: return errorStatus
        case APICRegister.commandLow: return commandLow
        case APICRegister.commandHigh: return x2APICMode ? nil : commandHigh
        case APICRegister.lvtTimer...APICRegister.lvtError: return lvt[Int(offset - APICRegister.lvtTimer) >> 4]
        case APICRegister.timerInitialCount: return timerInitialCount
        case APICRegister.timerCurrentCount: return currentCount(now: now)
        case APICRegister.timerDivide: return timerDivide
        default: return nil
        }
    }

    /// The arbitration priority lowest-priority delivery compares.
    public var arbitrationPriority: UInt32 {
        let requested = UInt32(interruptRequest.highest ?? 0) & 0xF0, served = UInt32(inService.highest ?? 0) & 0xF0
        return taskPriority & 0xF0 >= max(requested, served) ? taskPriority & 0xFF : max(requested, served)
    }

    /// A 32-bit write at a 16-byte-aligned offset. Read-only and reserved registers ignore it and record an
    /// illegal-register error (what the xAPIC does); returns false for those, so the x2APIC MSR path raises #GP.
    public mutating func writeRegister(_ offset: UInt32, _ value: UInt32, now: UInt64) -> (accepted: Bool, actions: [APICAction]) {
        var actions: [APICAction] = []
        switch offset {
        case APICRegister.id:
            guard !x2APICMode else { return (false, []) }
            id = value >> 24
        case APICRegister.taskPriority: taskPriority = value & 0xFF
        case APICRegister.endOfInterrupt:
            if x2APICMode && value != 0 { return (false, []) }
            actions = endOfInterrupt()
        case APICRegister.logicalDestination:
            guard !x2APICMode else { return (false, []) }
            logicalDestination = value & 0xFF00_0000
        case APICRegister.destinationFormat:
            guard !x2APICMode else { return (false, []) }
            destinationFormat = value | 0x0FFF_FFFF
        case APICRegister.spuriousVector:
            // Bits 7:0 vector, 8 software enable, 9 focus check; no EOI-broadcast suppression here (bit 12).
            spuriousVector = value & 0x3FF
            if !softwareEnabled { for index in lvt.indices { lvt[index] |= APICBits.lvtMask } }
        case APICRegister.errorStatus:
            if x2APICMode && value != 0 { return (false, []) }
            errorStatus = pendingErrors
            pendingErrors = 0
        case APICRegister.commandLow:
            commandLow = value & ~(1 << 12)   // delivery status always reads idle: the send is immediate
            actions = sendIPI(low: commandLow, destination: x2APICMode ? commandHigh : commandHigh >> 24)
        case APICRegister.commandHigh:
            guard !x2APICMode else { return (false, []) }
            commandHigh = value & 0xFF00_0000
        case APICRegister.lvtTimer...APICRegister.lvtError:
            writeLVT(Int(offset - APICRegister.lvtTimer) >> 4, value, now: now)
        case APICRegister.timerInitialCount:
            guard timerMode != .tscDeadline else { break }
            timerInitialCount = value
            timerDue = value == 0 ? nil : now &+ period
        case APICRegister.timerDivide:
            let remaining = currentCount(now: now)
            timerDivide = value & 0xB
            if timerDue != nil, timerMode != .tscDeadline { timerDue = now &+ UInt64(remaining) &* divisor }
        case APICRegister.selfIPI:
            guard x2APICMode else { return (false, []) }
            accept(InterruptRequest(vector: UInt8(truncatingIfNeeded: value)))
        default:
            if !x2APICMode { recordError(APICBits.illegalRegisterAddress) }
            return (false, [])
        }
        return (true, actions)
    }

    /// Writable bits per LVT entry (SDM figure 11-8): timer mode, mask, trigger/polarity/delivery for the LINTs.
    private mutating func writeLVT(_ index: Int, _ value: UInt32, now: UInt64) {
        let writable: UInt32
        switch index {
        case Self.lvtIndexTimer: writable = 0x6_00FF | APICBits.lvtMask
        case Self.lvtIndexLINT0, Self.lvtIndexLINT1: writable = 0x1_A7FF
        case Self.lvtIndexError: writable = 0x1_00FF
        default: writable = 0x1_07FF
        }
        var entry = value & writable
        if !softwareEnabled { entry |= APICBits.lvtMask }
        if index == Self.lvtIndexTimer {
            // Mode 3 is reserved; treat it as one-shot. A mode change stops the timer (SDM 11.5.4.1).
            if (entry >> 17) & 3 == 3 { entry &= ~(3 << 17) }
            let oldMode = timerMode
            lvt[index] = entry
            if timerMode != oldMode {
                timerDue = nil
                timerInitialCount = 0
                tscDeadline = 0
            }
            return
        }
        lvt[index] = entry | (lvt[index] & APICBits.lvtRemoteIRR)
    }

    /// The ICR's send (SDM 11.6.1): fixed, lowest priority, NMI, INIT, SIPI; physical or logical; shorthands.
    mutating func sendIPI(low: UInt32, destination: UInt32) -> [APICAction] {
        let vector = UInt8(truncatingIfNeeded: low)
        guard let mode = DeliveryMode(rawValue: UInt8((low >> 8) & 7)), mode != .externalInterrupt, mode != .smi else {
            return []
        }
        let level = low & (1 << 14) != 0, levelTriggered = low & (1 << 15) != 0
        // INIT level de-assert is a no-op on every APIC since the P6.
        if mode == .initialize && levelTriggered && !level { return [] }
        if (mode == .fixed || mode == .lowestPriority) && vector < 16 {
            recordError(APICBits.sendIllegalVector)
            return []
        }
        let request = InterruptRequest(vector: vector, deliveryMode: mode, levelTriggered: false)
        let shorthand = IPIShorthand(rawValue: UInt8((low >> 18) & 3)) ?? .none
        if shorthand == .none {
            return [.send(request, destination: destination, logical: low & (1 << 11) != 0)]
        }
        return [.sendShorthand(request, shorthand)]
    }
}
