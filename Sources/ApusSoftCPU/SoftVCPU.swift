public import ApusCore
import Synchronization

/// One software vCPU: runs the interpreter until an instruction needs the VMM (port I/O, MMIO), halts, triple-faults
/// or is kicked.
public final class SoftVCPU: VCPUBackend {
    public let index: Int
    let core: CPUCore
    private var model: CPUModel { core.model }
    private let softKicker: SoftKicker
    /// The 8259A pair the VMM connected, if the machine has the interrupt-controller platform and no local APIC.
    private let controller: (any ExternalInterruptController)?
    /// This vCPU's local APIC; with one, the 8259A reaches the CPU through its LINT0.
    private let localAPIC: (any LocalInterruptController)?
    /// Whether anything can interrupt this CPU (a HLT then sleeps instead of ending the run).
    private var hasInterruptSource: Bool { controller != nil || localAPIC != nil }
    private let waker: HaltWaker
    /// Where the vCPU reports things the VM log should show (opcodes it does not implement).
    private let diagnostics: (@Sendable (String) -> Void)?
    private var reportedOpcodes: Set<UInt64> = []
    private var reportedFeatures: Set<String> = []
    /// Hot blocks as host code (`--soft-cpu translate`); nil runs the interpreter alone.
    let translation: TranslationTier?
    /// Where exits carry their data, as kvm_run's data area does for KVM.
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 8)
    /// IA32_APIC_BASE.BSP: this CPU is the bootstrap processor.
    static let apicBaseBSP: UInt64 = 1 << 8
    /// How many instructions run between two looks at the kick flag.
    static let kickCheckInterval = 4096

    /// How long a halted vCPU sleeps before looking at its kick flag again (kicks also wake it at once).
    static let haltSleepNanoseconds: UInt64 = 10_000_000

    /// Where an application processor is on its way from power-on to running (SDM 8.4: INIT, then a start-up IPI).
    enum Startup: UInt8 { case running = 0, waitingForINIT = 1, waitingForSIPI = 2 }
    private(set) var startup = Startup.running

    init(index: Int, memory: GuestMemory, model: CPUModel, controller: (any ExternalInterruptController)? = nil,
         localAPIC: (any LocalInterruptController)? = nil,
         waker: HaltWaker = HaltWaker(), diagnostics: (@Sendable (String) -> Void)? = nil,
         codePages: SharedCodePages? = nil, topology: CPUTopology? = nil, writtenPages: GuestWrittenPages? = nil,
         tier: SoftCPUTier = .interpreter) {
        self.index = index
        self.diagnostics = diagnostics
        self.controller = localAPIC == nil ? controller : nil
        self.localAPIC = localAPIC
        self.waker = waker
        softKicker = SoftKicker(waker: waker)
        core = CPUCore(memory: memory, model: model, codePages: codePages, writtenPages: writtenPages)
        core.localAPIC = localAPIC
        core.topology = topology
        translation = TranslationTier.make(tier, vcpu: index, diagnostics: diagnostics)
    }

    deinit { buffer.deallocate() }

    public var kicker: any VCPUKicker { softKicker }

    /// An application processor at power-on: `run()` executes nothing until this vCPU's local APIC has taken INIT and
    /// then a start-up IPI (the sender's APIC wakes it through its waker); a kick ends the wait with `.interrupted`,
    /// so pause, suspend and stop reach a waiting vCPU as a running one. The wait is in `run()`, not here, because
    /// every vCPU must exist (RunControl's barrier) before the bootstrap processor can send the IPIs.
    public func awaitStartup() throws {
        guard localAPIC != nil else {
            throw SoftCPUError.unsupported("an application processor without a local APIC (the interrupt-controller platform)")
        }
        startup = .waitingForINIT
        core.halted = false
    }

    /// Waits for INIT and then a start-up IPI, returning nil once the CPU runs at the start-up vector, or the exit for
    /// a kick (the wait goes on at the next `run()`).
    private func waitForStartup() -> VCPUExit? {
        guard let localAPIC else { return .internalError("an application processor without a local APIC") }
        while startup != .running {
            let ticket = waker.ticket()
            if softKicker.consume() { return .interrupted }
            switch localAPIC.takeStartupSignal() {
            case .initialize?:
                startup = .waitingForSIPI
                continue
            case .startup(let vector)? where startup == .waitingForSIPI:
                start(atVector: vector)
                return nil
            case .startup?, .vector?:
                continue   // a start-up IPI before INIT is ignored (SDM 8.4.4)
            case nil:
                break
            }
            waker.sleep(after: ticket, nanoseconds: Self.haltSleepNanoseconds)
        }
        return nil
    }

    /// The state a start-up IPI gives an application processor (SDM 9.1.1, INIT values): real mode at
    /// CS = vector << 8 (base vector << 12), IP 0; EDX holds the CPU signature as after RESET.
    private func start(atVector vector: UInt8) {
        var special = SpecialRegisters()
        special.cs = Segment.realMode(selector: UInt16(vector) << 8, code: true)
        special.apicBase = core.sregs.apicBase
        core.sregs = special
        var registers = Registers()
        registers.rdx = UInt64(model.cpuid(leaf: 1, subleaf: 0).0)
        registers.rflags = Flag.fixed
        try? setRegisters(registers)
        core.fpu = FPUState()
        core.halted = false
        core.decoded.flushAll()
        core.flushTranslations()
        startup = .running
    }

    public func run() throws -> VCPUExit {
        // The VMM or a device may have written guest memory since the last run (a virtio used ring, a disk read): only
        // the decoded code on the pages they wrote is dropped, not the whole cache.
        core.absorbHostWrites()
        if let awaited = core.awaitedRead {
            core.suppliedRead = (awaited.isPort, awaited.address, awaited.size, load(size: awaited.size))
            core.awaitedRead = nil
        }
        if startup != .running, let exit = waitForStartup() { return exit }
        if core.halted {
            // Without a controller, entering again continues after the HLT, as KVM without an irqchip does.
            if !hasInterruptSource { core.halted = false } else if let exit = waitWhileHalted() { return exit }
        }
        var countdown = 0
        while true {
            if countdown == 0 {
                if softKicker.consume() { return .interrupted }
                countdown = Self.kickCheckInterval
                // A device thread (network receive) may write guest memory while this CPU runs.
                if core.hostWritten.mayHavePages { core.absorbHostWrites() }
                // The APIC timer and NMIs are looked at between batches: a timer interrupt is late by at most a
                // batch, and an NMI (rare: IPIs, LINT1) never costs a lock per instruction.
                if let localAPIC {
                    _ = localAPIC.serviceTimer()
                    if localAPIC.takeNMI(), core.deliverExternal(2) == .tripleFault { return .shutdown }
                }
            }
            countdown -= 1
            // One relaxed load per instruction while INTR is low; the rest only when an interrupt may be pending.
            if waker.interruptHint.load(ordering: .relaxed), core.rflags & Flag.if != 0, !core.inInterruptShadow,
               hasInterruptSource {
                if takeInterrupt() == .tripleFault { return .shutdown }
                if startup != .running, let exit = waitForStartup() { return exit }   // INIT reached an AP
            }
            if let translation, case let ran = translation.run(core), ran > 0 {
                countdown = max(countdown - (ran - 1), 0)   // the kick check stays every ~4,096 guest instructions
                continue
            }
            do {
                let result = try core.step()
                if let write = core.pendingWrite {
                    core.pendingWrite = nil
                    store(write.value, size: write.size)
                    return exit(isPort: write.isPort, address: write.address, size: write.size, direction: .write)
                }
                if result == .halt {
                    core.halted = true
                    // Without an interrupt controller nothing can wake this CPU: the run ends, as on KVM.
                    if !hasInterruptSource { return .halt }
                    if let exit = waitWhileHalted() { return exit }
                }
            } catch ExitRequest.pendingRead {
                core.pendingWrite = nil
                guard let read = core.awaitedRead else { return .internalError("a device read was lost") }
                return exit(isPort: read.isPort, address: read.address, size: read.size, direction: .read)
            } catch let fault as CPUFault {
                core.pendingWrite = nil
                core.suppliedRead = nil
                if let missing = core.lastNotImplemented {
                    core.lastNotImplemented = nil
                    reportNotImplemented(missing.opcode, at: missing.rip)
                }
                if let unsupported = core.lastUnsupported {
                    core.lastUnsupported = nil
                    reportUnsupported(unsupported)
                }
                if core.raise(fault) == .tripleFault { return .shutdown }
            }
        }
    }

    /// Names a feature the software CPU does not model, once per text per vCPU.
    private func reportUnsupported(_ feature: String) {
        guard let diagnostics, reportedFeatures.insert(feature).inserted else { return }
        diagnostics("soft CPU vCPU \(index): \(feature)")
    }

    /// Names an opcode without a case in the interpreter, once per opcode per vCPU, through the machine's diagnostics.
    private func reportNotImplemented(_ opcode: UInt64, at rip: UInt64) {
        guard let diagnostics, reportedOpcodes.insert(opcode).inserted else { return }
        let bytes = opcode >= 0x1_0000 ? "0F " + hex((opcode >> 8) & 0xFF) + " " + hex(opcode & 0xFF)
            : (opcode >= 0x100 ? "0F " + hex(opcode & 0xFF) : hex(opcode))
        diagnostics("soft CPU vCPU \(index): opcode \(bytes) at rip 0x\(String(rip, radix: 16)) is not implemented "
                    + "(or undefined); the guest gets #UD")
    }

    private func hex(_ byte: UInt64) -> String {
        let text = String(byte, radix: 16, uppercase: true)
        return text.count == 1 ? "0" + text : text
    }

    /// INTR is high and IF set: the acknowledge cycle, then delivery through the IDT (or IVT). A request that went
    /// away is not delivered; the hint stays set while anything is still pending.
    private func takeInterrupt() -> CPUCore.DeliveryOutcome {
        waker.interruptHint.store(false, ordering: .relaxed)
        if let localAPIC {
            guard let accepted = localAPIC.acknowledge() else { return .delivered }
            if localAPIC.hasPendingInterrupt { waker.interruptHint.store(true, ordering: .relaxed) }
            // INIT sends an application processor back to wait-for-SIPI; the bootstrap processor ignores it, and a
            // running CPU ignores start-up IPIs.
            if case .initialize = accepted, localAPIC.baseMSR & Self.apicBaseBSP == 0 {
                startup = .waitingForSIPI
                return .delivered
            }
            guard case .vector(let vector) = accepted else { return .delivered }
            core.halted = false
            core.absorbHostWrites()   // the interrupt may announce data a device just wrote
            return core.deliverExternal(vector)
        }
        guard let controller else { return .delivered }
        guard let vector = controller.acknowledge() else { return .delivered }
        if controller.pendingInterrupt { waker.interruptHint.store(true, ordering: .relaxed) }
        core.halted = false
        core.absorbHostWrites()   // the interrupt may announce data a device just wrote
        return core.deliverExternal(vector)
    }

    /// Halted with a controller: sleeps and takes the first interrupt that arrives (a request that vanished before its
    /// acknowledge leaves the CPU halted). Returns the exit that ends the run (a kick, a triple fault), or nil once
    /// the CPU runs again.
    private func waitWhileHalted() -> VCPUExit? {
        while core.halted {
            if let exit = sleepUntilInterrupt() { return exit }
            if let localAPIC, localAPIC.takeNMI() {
                core.halted = false
                if core.deliverExternal(2) == .tripleFault { return .shutdown }
                continue
            }
            if takeInterrupt() == .tripleFault { return .shutdown }
            if startup != .running {   // INIT reached an AP
                core.halted = false
                return waitForStartup()
            }
        }
        return nil
    }

    /// HLT with a controller: sleep until an interrupt the CPU will take (IF set) arrives, or a kick. Returns the exit
    /// for a kick (the CPU stays halted and goes back to sleep on the next `run()`), nil to go on executing.
    private func sleepUntilInterrupt() -> VCPUExit? {
        while true {
            let ticket = waker.ticket()
            if softKicker.consume() { return .interrupted }
            var sleep = Self.haltSleepNanoseconds
            if let localAPIC {
                // The timer fires here while the CPU sleeps; its next expiry bounds the sleep.
                if let remaining = localAPIC.serviceTimer() { sleep = min(sleep, max(remaining, 1)) }
                if localAPIC.hasPendingNMI { return nil }
            }
            if core.rflags & Flag.if != 0, pendingInterrupt {
                waker.interruptHint.store(true, ordering: .relaxed)
                return nil
            }
            waker.sleep(after: ticket, nanoseconds: sleep)
        }
    }

    private var pendingInterrupt: Bool {
        if let localAPIC { return localAPIC.hasPendingInterrupt }
        return controller?.pendingInterrupt ?? false
    }

    private func exit(isPort: Bool, address: UInt64, size: Int, direction: IODirection) -> VCPUExit {
        let data = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<size])
        if isPort {
            return .portIO(PortIOExit(port: UInt16(truncatingIfNeeded: address), size: size, direction: direction, data: data))
        }
        return .mmio(MMIOExit(address: GuestAddress(address), size: size, direction: direction, data: data))
    }

    private func store(_ value: UInt64, size: Int) {
        for i in 0..<size { buffer[i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }

    private func load(size: Int) -> UInt64 {
        (0..<size).reduce(0) { $0 | UInt64(buffer[$1]) << (8 * UInt64($1)) }
    }

    // MARK: State

    public func registers() throws -> Registers {
        var registers = Registers()
        for i in 0..<16 { registers[i] = core.gpr[i] }
        registers.rip = core.rip
        registers.rflags = core.rflags
        return registers
    }

    public func setRegisters(_ registers: Registers) throws {
        for i in 0..<16 { core.gpr[i] = registers[i] }
        core.rip = registers.rip
        core.rflags = registers.rflags | Flag.fixed
        // Not for memory (host writes are tracked): the VMM sets registers only before the first run and on restore,
        // where dropping the cache costs nothing and no entry decoded for an earlier state can outlive it.
        core.decoded.flushAll()
    }

    public func specialRegisters() throws -> SpecialRegisters { core.sregs }
    public func setSpecialRegisters(_ registers: SpecialRegisters) throws {
        core.sregs = registers
        // The cache is keyed by decoding mode, but a new CS, paging or CPU mode set from outside (entry, restore) is
        // where a missed key would hide: the VMM does this at most once per entry, so it starts from an empty cache.
        core.decoded.flushAll()
    }
    public func fpu() throws -> FPUState { core.fpu }
    public func setFPU(_ fpu: FPUState) throws { core.fpu = fpu }

    public func msrs(_ indices: [UInt32]) throws -> [UInt32: UInt64] {
        var values: [UInt32: UInt64] = [:]
        for index in indices { if let value = try? core.readMSR(index) { values[index] = value } }
        return values
    }

    public func setMSRs(_ values: [UInt32: UInt64]) throws {
        for (index, value) in values {
            do { try core.writeMSR(index, value) } catch { throw SoftCPUError.unsupported("MSR 0x\(String(index, radix: 16))") }
        }
    }

    /// A device read the VMM has answered but the CPU has not consumed yet (the machine paused between that exit and
    /// the next run()) is saved with the state, so the restored CPU finishes the instruction with the same value
    /// instead of reading the device twice (a UART's IIR or data register read twice loses an interrupt or a byte).
    static let pendingReadKey = "soft.pendingRead"
    public func captureState() throws -> CPUState {
        var state = CPUState(registers: try registers(), specialRegisters: core.sregs, fpu: core.fpu,
                             msrs: try msrs(MSR.saved), pendingInterrupt: nil, halted: core.halted)
        if let awaited = core.awaitedRead {
            let value = load(size: awaited.size)
            state.backendState[Self.pendingReadKey] = [awaited.isPort ? 1 : 0, UInt8(awaited.size)]
                + (0..<8).map { UInt8(truncatingIfNeeded: awaited.address >> (8 * UInt64($0))) }
                + (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
        }
        switch startup {
        case .running: break
        case .waitingForINIT: state.startupWait = .initialize
        case .waitingForSIPI: state.startupWait = .startupIPI
        }
        return state
    }

    public func restoreState(_ state: CPUState) throws {
        core.sregs = state.specialRegisters
        try setRegisters(state.registers)
        core.fpu = state.fpu
        try setMSRs(state.msrs)
        core.halted = state.halted
        core.awaitedRead = nil
        core.suppliedRead = nil
        if let bytes = state.backendState[Self.pendingReadKey] {
            guard bytes.count == 18, bytes[0] <= 1, [1, 2, 4, 8].contains(Int(bytes[1])) else {
                throw SoftCPUError.unsupported("a saved pending device read of \(bytes.count) bytes")
            }
            func word(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * UInt64($1)) } }
            core.suppliedRead = (bytes[0] == 1, word(2), Int(bytes[1]), word(10))
        }
        switch state.startupWait {
        case nil: startup = .running
        case .initialize?: startup = .waitingForINIT
        case .startupIPI?: startup = .waitingForSIPI
        }
        if startup != .running && localAPIC == nil {
            throw SoftCPUError.unsupported("an application processor waiting for start-up without a local APIC")
        }
        // A restore replaces memory and every register wholesale: start from an empty cache. (Its memory writes are
        // recorded as host writes too; taking them at the next run only bumps pages this flush already emptied.)
        core.decoded.flushAll()
    }
}

/// Kicks a software vCPU: the interpreter looks at the flag every few thousand instructions and before it starts,
/// and a halted vCPU is woken to see it.
final class SoftKicker: VCPUKicker {
    private let pending = Atomic<Bool>(false)
    private let waker: HaltWaker
    init(waker: HaltWaker) { self.waker = waker }
    func kick() {
        pending.store(true, ordering: .releasing)
        waker.wake(interrupt: false)
    }
    func consume() -> Bool { pending.exchange(false, ordering: .acquiringAndReleasing) }
}
