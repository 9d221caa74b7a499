public import ApusCore

/// One local APIC as a pure state machine (SDM vol. 3, chapter 11): the registers, IRR/ISR/TMR with priority
/// classes, EOI, the LVT, the timer on a nanosecond clock the caller passes in, and the ICR. Operations that reach
/// other APICs or interrupt sources return `APICAction`s for the caller to carry out, so this value never calls out
/// and is saved as it is.
public struct LocalAPICState: Codable, Sendable, Equatable {
    public var id: UInt32
    public var baseMSR: UInt64
    public var taskPriority: UInt32 = 0
    public var logicalDestination: UInt32 = 0
    public var destinationFormat: UInt32 = 0xFFFF_FFFF
    public var spuriousVector: UInt32 = 0xFF
    public var inService = VectorSet()
    public var triggerMode = VectorSet()
    public var interruptRequest = VectorSet()
    /// The ESR as last latched by a write, and the errors seen since.
    public var errorStatus: UInt32 = 0
    public var pendingErrors: UInt32 = 0
    public var commandLow: UInt32 = 0
    public var commandHigh: UInt32 = 0
    /// Timer, thermal, performance, LINT0, LINT1, error.
    public var lvt: [UInt32]
    public var timerInitialCount: UInt32 = 0
    public var timerDivide: UInt32 = 0
    /// When the one-shot or periodic count reaches zero, or the TSC deadline passes, on the caller's clock.
    public var timerDue: UInt64?
    /// In a saved state: how long the timer had left (the clock's zero differs between hosts and boots).
    public var timerRemainingAtSave: UInt64?
    /// IA32_TSC_DEADLINE as the guest wrote it (0: disarmed).
    public var tscDeadline: UInt64 = 0
    public var nmiPending = false
    public var initPending = false
    public var startupVector: UInt8?

    /// The version register: version 0x14 (an integrated APIC), 6 LVT entries (max LVT index 5).
    public static let version: UInt32 = 0x0005_0014
    /// The timer counts at 1 GHz before the divider, as KVM's does, so one count is one nanosecond at divide-by-1.
    public static let timerNanosecondsPerTick: UInt64 = 1
    static let lvtCount = 6
    static let lvtIndexTimer = 0, lvtIndexLINT0 = 3, lvtIndexLINT1 = 4, lvtIndexError = 5

    /// The power-up state: the bootstrap processor's APIC is enabled at 0xFEE00000 with LINT0 in ExtINT mode (the
    /// virtual wire a BIOS leaves for the 8259A, as KVM's reset does), every other LVT entry masked.
    public init(id: UInt32, bootstrap: Bool) {
        self.id = id
        baseMSR = APICBits.defaultBase | APICBits.baseEnable | (bootstrap ? APICBits.baseBSP : 0)
        lvt = Array(repeating: APICBits.lvtMask, count: Self.lvtCount)
        if bootstrap { lvt[Self.lvtIndexLINT0] = UInt32(DeliveryMode.externalInterrupt.rawValue) << 8 }
    }

    // MARK: Modes

    public var hardwareEnabled: Bool { baseMSR & APICBits.baseEnable != 0 }
    public var x2APICMode: Bool { hardwareEnabled && baseMSR & APICBits.baseX2APIC != 0 }
    public var softwareEnabled: Bool { spuriousVector & APICBits.softwareEnable != 0 }
    public var registerPageBase: UInt64 { baseMSR & 0xF_FFFF_F000 }

    /// WRMSR IA32_APIC_BASE. Reserved bits, EXTD without EN, and x2APIC back to xAPIC are #GP (SDM 11.12.5); a global
    /// disable puts the APIC back to its power-up state (ID and BSP bit kept).
    public mutating func setBaseMSR(_ value: UInt64) -> Bool {
        guard value & ~APICBits.baseWritable == 0 else { return false }
        let enable = value & APICBits.baseEnable != 0, extended = value & APICBits.baseX2APIC != 0
        if extended && !enable { return false }
        if x2APICMode && enable && !extended { return false }
        if !enable && hardwareEnabled {
            let bootstrap = baseMSR & APICBits.baseBSP != 0
            self = LocalAPICState(id: id, bootstrap: bootstrap)
            lvt[Self.lvtIndexLINT0] = APICBits.lvtMask
        }
        let enteringX2APIC = extended && !x2APICMode
        baseMSR = value
        if enteringX2APIC { logicalDestination = x2APICLogicalID }
        return true
    }

    /// In x2APIC mode the logical ID is derived from the APIC ID: cluster in bits 31:16, one bit of 16 below.
    var x2APICLogicalID: UInt32 { (id >> 4) << 16 | 1 << (id & 0xF) }

    // MARK: Priorities

    /// PPR (SDM 11.8.3.1): the TPR, or the class of the highest in-service vector if that is higher.
    public var processorPriority: UInt32 {
        let inServiceClass = UInt32(inService.highest ?? 0) & 0xF0
        return taskPriority & 0xF0 >= inServiceClass ? taskPriority & 0xFF : inServiceClass
    }

    /// The highest requested vector whose class beats the processor priority.
    public var deliverableVector: UInt8? {
        guard hardwareEnabled, let vector = interruptRequest.highest else { return nil }
        return UInt32(vector) & 0xF0 > processorPriority & 0xF0 ? vector : nil
    }

    /// Moves the deliverable vector from IRR to ISR: the CPU's interrupt-acknowledge cycle.
    public mutating func acknowledge() -> UInt8? {
        guard let vector = deliverableVector else { return nil }
        interruptRequest[vector] = false
        inService[vector] = true
        return vector
    }

    /// EOI: retires the highest in-service vector; a level-triggered one is broadcast to the IOAPIC.
    public mutating func endOfInterrupt() -> [APICAction] {
        guard let vector = inService.highest else { return [] }
        inService[vector] = false
        return triggerMode[vector] ? [.endOfInterrupt(vector: vector)] : []
    }

    // MARK: Receiving

    /// Whether `destination` addresses this APIC (SDM 11.6.2): physical ID or broadcast, or a logical match in the
    /// flat or cluster model (x2APIC: cluster only).
    public func isAddressed(by destination: UInt32, logical: Bool) -> Bool {
        guard hardwareEnabled else { return false }
        if x2APICMode {
            if destination == 0xFFFF_FFFF { return true }
            if !logical { return destination == id }
            return destination >> 16 == x2APICLogicalID >> 16 && destination & x2APICLogicalID & 0xFFFF != 0
        }
        let destination = destination & 0xFF
        if destination == 0xFF { return true }
        if !logical { return destination == id & 0xFF }
        let logicalID = logicalDestination >> 24
        if destinationFormat >> 28 == 0xF { return destination & logicalID != 0 }
        return destination >> 4 == logicalID >> 4 && destination & logicalID & 0xF != 0
    }

    /// An interrupt from the bus (IOAPIC, MSI, IPI) or from this APIC's own LVT.
    public mutating func accept(_ request: InterruptRequest) {
        guard hardwareEnabled else { return }
        switch request.deliveryMode {
        case .fixed, .lowestPriority:
            // A software-disabled APIC drops them (as KVM's does); vectors 0-15 are illegal (SDM 11.5.3).
            guard softwareEnabled else { return }
            guard request.vector >= 16 else { return recordError(APICBits.receiveIllegalVector) }
            interruptRequest[request.vector] = true
            triggerMode[request.vector] = request.levelTriggered
        case .nmi: nmiPending = true
        case .initialize: initPending = true
        case .startup: startupVector = request.vector
        case .smi, .externalInterrupt: break   // no SMM; ExtINT comes only through LINT0 from the 8259A
        }
    }

    /// An error condition: latched into the ESR on its next write, and signalled through the LVT error entry.
    mutating func recordError(_ bit: UInt32) {
        let fresh = pendingErrors & bit == 0
        pendingErrors |= bit
        if fresh { fireLVT(Self.lvtIndexError) }
    }

    /// Raises the interrupt an LVT entry describes (fixed delivery), unless masked.
    mutating func fireLVT(_ index: Int) {
        let entry = lvt[index]
        guard entry & APICBits.lvtMask == 0, softwareEnabled else { return }
        let mode = DeliveryMode(rawValue: UInt8((entry >> 8) & 7)) ?? .fixed
        if index == Self.lvtIndexTimer || index == Self.lvtIndexError || mode == .fixed {
            accept(InterruptRequest(vector: UInt8(truncatingIfNeeded: entry),
                                    levelTriggered: false))
        } else if mode == .nmi {
            nmiPending = true
        }
    }

    /// Whether the 8259A's INTR reaches the CPU: always with the APIC globally disabled, else through LINT0 in
    /// ExtINT mode, unmasked.
    public var acceptsExternalInterrupts: Bool {
        if !hardwareEnabled { return true }
        let lint0 = lvt[Self.lvtIndexLINT0]
        return lint0 & APICBits.lvtMask == 0 && (lint0 >> 8) & 7 == UInt32(DeliveryMode.externalInterrupt.rawValue)
    }
}

/// What a local APIC operation asks the outside world to do.
public enum APICAction: Sendable, Equatable {
    /// An IPI for the APIC bus, to a destination or a shorthand.
    case send(InterruptRequest, destination: UInt32, logical: Bool)
    case sendShorthand(InterruptRequest, IPIShorthand)
    /// The EOI of a level-triggered vector, for the IOAPIC.
    case endOfInterrupt(vector: UInt8)
}
