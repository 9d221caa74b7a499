import ApusCore

/// The architectural state of one software vCPU and its view of guest memory.
///
/// Registers live behind an UnsafeMutablePointer so the interpreter's hot path never touches Swift arrays'
/// copy-on-write or bounds checks.
final class CPUCore {
    let gpr: UnsafeMutablePointer<UInt64>
    var rip: UInt64 = 0
    /// RFLAGS as last settled; `rflags` (LazyFlags.swift) adds the pending arithmetic flags of `lazy`.
    var flagBits: UInt64 = Flag.fixed
    var lazy = LazyFlags()
    /// Replacing the special registers wholesale (entry, restore) drops every cached translation.
    var sregs = SpecialRegisters() {
        didSet {
            refreshModes()
            if oldValue.cr3 != sregs.cr3 || oldValue.cr0 != sregs.cr0 || oldValue.cr4 != sregs.cr4
                || oldValue.efer != sregs.efer || oldValue.cs.selector & 3 != sregs.cs.selector & 3 {
                flushTranslations()
            }
        }
    }
    var msrs: [UInt32: UInt64] = [:]
    /// This vCPU's local APIC, on a machine with the interrupt-controller platform.
    var localAPIC: (any LocalInterruptController)?
    /// Where this vCPU sits in the machine (its APIC ID, the CPU count), for CPUID; nil for a lone core (tests).
    var topology: CPUTopology?
    var fpu = FPUState()
    var halted = false
    /// The last opcode the interpreter has no case for (0x100 | byte for the 0F map) and where: the guest gets #UD,
    /// as hardware gives for an undefined opcode, and the vCPU reports it once so the VM log names it.
    var lastNotImplemented: (opcode: UInt64, rip: UInt64)?
    /// An architectural feature the guest reached that this CPU does not model (task switches, virtual-8086 mode):
    /// the guest gets the fault named where this is set, and the vCPU reports the text once so the VM log says why.
    var lastUnsupported: String?
    /// DR0-DR7 (DR4 and DR5 are aliases and never stored).
    var debugRegisters: [UInt64] = [0, 0, 0, 0, 0, 0, CPUCore.debugRegister6Fixed, CPUCore.debugRegister7Fixed]
    /// STI's one-instruction interrupt shadow, as the instruction count at which it ends (so `sti; hlt` cannot miss
    /// an interrupt). Kept as a count rather than a flag so the dispatch loop looks at it only when INTR is high.
    var interruptShadowEnd: UInt64 = 0

    /// Whether STI's (or MOV SS's) shadow still blocks external interrupts.
    var inInterruptShadow: Bool {
        let remaining = interruptShadowEnd &- instructions
        return remaining >= 1 && remaining <= 2
    }
    let memory: GuestMemory
    let model: CPUModel
    /// Instructions retired (statistics and the interrupt shadows).
    var instructions: UInt64 = 0
    var timeStampCounter: TimeStampCounter
    let tlb = SoftTLB()
    /// Guest RAM's bounds as plain pointers, and the decoded instructions of its pages.
    let ram: PhysicalRAM
    let decoded: DecodeCache
    /// The pages this vCPU stored to, for dirty-page tracking (its machine's map for this vCPU).
    let writtenPages: GuestWrittenPages
    /// DispatchTable.quick's tables, held here so a decode reads them with one load (no lazy-global check).
    let dispatchSlots = DispatchTable.quick.slots
    let dispatchPages = DispatchTable.quick.pages
    /// What the VMM and devices wrote since the CPU last looked (see `absorbHostWrites`).
    let hostWritten: HostWrittenCode
    /// The code page instructions are being fetched from, as a host pointer: most fetches skip translation entirely.
    /// Reset whenever translations may have changed (`flushTranslations`).
    var fetchPage: UInt64 = .max
    var fetchHost: UnsafeMutableRawPointer?
    /// The guest-physical address and RAM page number (PhysicalRAM) of `fetchPage`, for the decode cache.
    var fetchPhysical: UInt64 = 0
    var fetchRAMPage = 0

    /// A port or MMIO write the instruction made; reported to the VMM once the instruction completes.
    var pendingWrite: (isPort: Bool, address: UInt64, size: Int, value: UInt64)?
    /// The read the CPU is waiting on, and the value the VMM supplied for it (consumed by the replayed instruction).
    var awaitedRead: (isPort: Bool, address: UInt64, size: Int)?
    var suppliedRead: (isPort: Bool, address: UInt64, size: Int, value: UInt64)?
    /// Set while a LOCK-prefixed instruction (or XCHG with memory) executes, and its loaded operand (CPUCore+Atomics).
    var atomicUpdate = false
    var lockedOperand: LockedOperand?

    /// `codePages`: the machine's table of pages holding decoded code, shared by its vCPUs (a core of its own if nil).
    init(memory: GuestMemory, model: CPUModel, codePages: SharedCodePages? = nil,
         writtenPages: GuestWrittenPages? = nil) {
        self.memory = memory
        self.model = model
        timeStampCounter = TimeStampCounter(kilohertz: model.tscFrequencyKHz)
        ram = PhysicalRAM(memory)
        decoded = DecodeCache(pages: codePages ?? SharedCodePages(pageCount: ram.pageCount))
        self.writtenPages = writtenPages ?? GuestWrittenPages(pageCount: ram.pageCount)
        hostWritten = HostWrittenCode(memory: memory)
        gpr = .allocate(capacity: 16)
        gpr.initialize(repeating: 0, count: 16)
    }

    /// Drops the decoded code on every page something other than this CPU wrote since the last call. Called where
    /// the CPU may next run code a device or the VMM has just written: at each entry, before delivering an external
    /// interrupt (a device's completion), and every kick-check batch (a write by a thread that did not interrupt).
    @inline(__always)
    func absorbHostWrites() {
        hostWritten.invalidate(in: decoded)
    }

    func flushTranslations() {
        tlb.flush()
        fetchPage = .max
    }

    deinit {
        gpr.deallocate()
        tlb.deallocate()
        ram.deallocate()
        decoded.deallocate()
    }

    // MARK: Modes

    // Cached from `sregs` (refreshModes), because every fetch and every memory access asks.
    private(set) var longMode = false
    private(set) var is64BitCode = false
    private(set) var protectedMode = false
    private(set) var defaultSize = 2
    /// IP, EIP or RIP width, for advancing the instruction pointer without testing the mode each time.
    private(set) var ipMask: UInt64 = 0xFFFF
    /// The decode cache's mode key: the code size (64-bit, or the default operand size), | 1 in protected mode,
    /// where the opcode maps' #UD column differs from real mode's (a cached entry is reused across flushes).
    private(set) var decodingMode: UInt64 = 2

    private func refreshModes() {
        longMode = sregs.efer & ControlRegister.eferLMA != 0
        is64BitCode = longMode && sregs.cs.l
        protectedMode = sregs.cr0 & ControlRegister.cr0PE != 0
        defaultSize = is64BitCode ? 4 : (protectedMode && sregs.cs.db ? 4 : 2)
        ipMask = is64BitCode ? .max : (defaultSize == 2 ? 0xFFFF : 0xFFFF_FFFF)
        decodingMode = (is64BitCode ? 8 : UInt64(defaultSize)) | (protectedMode ? 1 : 0)
    }
    /// Current privilege level: CS.DPL in protected mode (the RPL of CS equals it), 0 in real mode.
    var cpl: UInt8 { protectedMode ? UInt8(sregs.cs.selector & 3) : 0 }

    // MARK: Registers

    @inline(__always)
    func register(_ index: Int, size: Int, rex: Bool = true) -> UInt64 {
        if size == 1 && !rex && index >= 4 && index < 8 { return (gpr[index - 4] >> 8) & 0xFF }
        return gpr[index] & Flag.mask(size)
    }

    @inline(__always)
    func setRegister(_ index: Int, size: Int, _ value: UInt64, rex: Bool = true) {
        switch size {
        case 1:
            if !rex && index >= 4 && index < 8 {
                gpr[index - 4] = (gpr[index - 4] & ~0xFF00) | ((value & 0xFF) << 8)
            } else {
                gpr[index] = (gpr[index] & ~0xFF) | (value & 0xFF)
            }
        case 2: gpr[index] = (gpr[index] & ~0xFFFF) | (value & 0xFFFF)
        case 4: gpr[index] = value & 0xFFFF_FFFF      // 32-bit writes zero the upper half, as in 64-bit mode
        default: gpr[index] = value
        }
    }

    @inline(__always)
    func flag(_ bit: UInt64) -> Bool { rflags & bit != 0 }

    @inline(__always)
    func setArithmeticFlags(_ flags: UInt64, mask: UInt64 = Flag.arithmetic) {
        rflags = (rflags & ~mask) | (flags & mask)
    }

    /// Condition codes 0-15 as Jcc, SETcc and CMOVcc number them.
    @inline(__always)
    func condition(_ code: Int) -> Bool {
        if code >> 1 == 2 && lazy.kind != .none {   // E/NE (ZF) straight from the pending result
            return (lazy.result == 0) == (code & 1 == 0)
        }
        let result: Bool
        switch code >> 1 {
        case 0: result = flag(Flag.of)
        case 1: result = flag(Flag.cf)
        case 2: result = flag(Flag.zf)
        case 3: result = flag(Flag.cf) || flag(Flag.zf)
        case 4: result = flag(Flag.sf)
        case 5: result = flag(Flag.pf)
        case 6: result = flag(Flag.sf) != flag(Flag.of)
        default: result = flag(Flag.zf) || flag(Flag.sf) != flag(Flag.of)
        }
        return code & 1 == 0 ? result : !result
    }
}
