/// Everything needed to stop a vCPU and continue it later, on the same or the other backend.
public struct CPUState: Equatable, Sendable, Codable {
    public var registers: Registers
    public var specialRegisters: SpecialRegisters
    public var fpu: FPUState
    /// Model-specific registers by index.
    public var msrs: [UInt32: UInt64]
    /// An interrupt vector the CPU has accepted but not yet delivered, if any.
    public var pendingInterrupt: UInt8?
    /// Whether the vCPU was halted waiting for an interrupt.
    public var halted: Bool
    /// Interrupt state only the backend can interpret, by name (KVM: the LAPIC page, pending exceptions and
    /// interrupts, the multiprocessing state). Restored only on the backend that captured it.
    public var backendState: [String: [UInt8]]
    /// The local APIC of a backend that keeps it itself (KVM's in-kernel LAPIC), captured and restored with the vCPU.
    /// The VMM moves it into the snapshot as the same LAPIC state the software CPU saves; nil otherwise.
    public var localAPICPage: APICRegisterPage?
    /// An application processor not started yet: what it waits for (nil: it runs or halts). Both backends read and
    /// write it, so a machine suspended while APs wait resumes on either.
    public var startupWait: StartupWait?

    public enum StartupWait: String, Sendable, Codable {
        /// At power-on (KVM_MP_STATE_UNINITIALIZED): INIT, then a start-up IPI.
        case initialize
        /// INIT taken (KVM_MP_STATE_INIT_RECEIVED): a start-up IPI.
        case startupIPI
    }

    public init(registers: Registers = Registers(), specialRegisters: SpecialRegisters = SpecialRegisters(),
                fpu: FPUState = FPUState(), msrs: [UInt32: UInt64] = [:], pendingInterrupt: UInt8? = nil,
                halted: Bool = false, backendState: [String: [UInt8]] = [:],
                localAPICPage: APICRegisterPage? = nil) {
        self.registers = registers
        self.specialRegisters = specialRegisters
        self.fpu = fpu
        self.msrs = msrs
        self.pendingInterrupt = pendingInterrupt
        self.halted = halted
        self.backendState = backendState
        self.localAPICPage = localAPICPage
    }

    enum CodingKeys: String, CodingKey {
        case registers, specialRegisters, fpu, msrs, pendingInterrupt, halted, backendState, localAPICPage, startupWait
    }

    /// States saved before `backendState` existed decode with none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        registers = try container.decode(Registers.self, forKey: .registers)
        specialRegisters = try container.decode(SpecialRegisters.self, forKey: .specialRegisters)
        fpu = try container.decode(FPUState.self, forKey: .fpu)
        msrs = try container.decode([UInt32: UInt64].self, forKey: .msrs)
        pendingInterrupt = try container.decodeIfPresent(UInt8.self, forKey: .pendingInterrupt)
        halted = try container.decode(Bool.self, forKey: .halted)
        backendState = try container.decodeIfPresent([String: [UInt8]].self, forKey: .backendState) ?? [:]
        localAPICPage = try container.decodeIfPresent(APICRegisterPage.self, forKey: .localAPICPage)
        startupWait = try container.decodeIfPresent(StartupWait.self, forKey: .startupWait)
    }
}

/// MSR indices both backends understand by name.
public enum MSR {
    public static let apicBase: UInt32 = 0x1B
    public static let tsc: UInt32 = 0x10
    public static let efer: UInt32 = 0xC000_0080
    public static let star: UInt32 = 0xC000_0081
    public static let lstar: UInt32 = 0xC000_0082
    public static let cstar: UInt32 = 0xC000_0083
    public static let sfmask: UInt32 = 0xC000_0084
    public static let fsBase: UInt32 = 0xC000_0100
    public static let gsBase: UInt32 = 0xC000_0101
    public static let kernelGSBase: UInt32 = 0xC000_0102
    public static let tscDeadline: UInt32 = 0x6E0
    public static let pat: UInt32 = 0x277
    public static let sysenterCS: UInt32 = 0x174
    public static let sysenterESP: UInt32 = 0x175
    public static let sysenterEIP: UInt32 = 0x176

    /// The MSRs captured on suspend and restored on resume.
    public static let saved: [UInt32] = [
        tsc, star, lstar, cstar, sfmask, fsBase, gsBase, kernelGSBase, sysenterCS, sysenterESP, sysenterEIP, pat,
    ]
}
