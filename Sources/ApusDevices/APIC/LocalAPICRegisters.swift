/// Offsets of the xAPIC register page (SDM vol. 3, table 11-1); the x2APIC MSR of a register is 0x800 + offset >> 4.
enum APICRegister {
    static let id: UInt32 = 0x20
    static let version: UInt32 = 0x30
    static let taskPriority: UInt32 = 0x80
    static let arbitrationPriority: UInt32 = 0x90
    static let processorPriority: UInt32 = 0xA0
    static let endOfInterrupt: UInt32 = 0xB0
    static let remoteRead: UInt32 = 0xC0
    static let logicalDestination: UInt32 = 0xD0
    static let destinationFormat: UInt32 = 0xE0
    static let spuriousVector: UInt32 = 0xF0
    static let inService: UInt32 = 0x100
    static let triggerMode: UInt32 = 0x180
    static let interruptRequest: UInt32 = 0x200
    static let errorStatus: UInt32 = 0x280
    static let commandLow: UInt32 = 0x300
    static let commandHigh: UInt32 = 0x310
    static let lvtTimer: UInt32 = 0x320
    static let lvtThermal: UInt32 = 0x330
    static let lvtPerformance: UInt32 = 0x340
    static let lvtLINT0: UInt32 = 0x350
    static let lvtLINT1: UInt32 = 0x360
    static let lvtError: UInt32 = 0x370
    static let timerInitialCount: UInt32 = 0x380
    static let timerCurrentCount: UInt32 = 0x390
    static let timerDivide: UInt32 = 0x3E0
    static let selfIPI: UInt32 = 0x3F0
}

/// Bits of the LVT entries, the spurious-vector register and IA32_APIC_BASE.
enum APICBits {
    static let lvtMask: UInt32 = 1 << 16
    static let lvtLevelTriggered: UInt32 = 1 << 15
    static let lvtRemoteIRR: UInt32 = 1 << 14
    static let softwareEnable: UInt32 = 1 << 8
    static let baseBSP: UInt64 = 1 << 8
    static let baseX2APIC: UInt64 = 1 << 10
    static let baseEnable: UInt64 = 1 << 11
    static let defaultBase: UInt64 = 0xFEE0_0000
    /// Bits of IA32_APIC_BASE a guest may set: BSP, EXTD, EN and a base below 2^36 (MAXPHYADDR 36 here).
    static let baseWritable: UInt64 = baseBSP | baseX2APIC | baseEnable | 0xF_FFFF_F000
    /// ESR bits (SDM 11.5.3).
    static let sendIllegalVector: UInt32 = 1 << 5
    static let receiveIllegalVector: UInt32 = 1 << 6
    static let illegalRegisterAddress: UInt32 = 1 << 7
}

/// LVT timer bits 18:17.
public enum APICTimerMode: UInt32, Codable, Sendable {
    case oneShot = 0
    case periodic = 1
    case tscDeadline = 2
}
