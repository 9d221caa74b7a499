public import ApusCore
import Synchronization

/// One vCPU's local APIC for the software CPU: `LocalAPICState` behind a lock, connected to the machine's APIC bus
/// (IPIs out, interrupts in, EOIs to the IOAPIC), to the 8259A pair through LINT0, and to a clock for its timer.
/// The CPU calls it from its vCPU thread; the bus and devices from theirs. Nothing is called out while the lock is
/// held, so APICs, the IOAPIC and the PIC never wait on each other.
public final class LocalAPIC: LocalInterruptController, InterruptAcceptor, StatefulDevice, @unchecked Sendable {
    // @unchecked: `state` is a Mutex; the rest is immutable after init.
    private let state: Mutex<LocalAPICState>
    private let bus: InterruptBus
    private let externalController: (any ExternalInterruptController)?
    private let clock: any DeviceClock
    private let onRequest: @Sendable () -> Void

    /// `onRequest` runs whenever an interrupt may have become deliverable, to wake the vCPU.
    public init(id: UInt32, bootstrap: Bool, bus: InterruptBus, externalController: (any ExternalInterruptController)?,
                clock: any DeviceClock = MonotonicClock(), onRequest: @escaping @Sendable () -> Void = {}) {
        state = Mutex(LocalAPICState(id: id, bootstrap: bootstrap))
        self.bus = bus
        self.externalController = externalController
        self.clock = clock
        self.onRequest = onRequest
    }

    private func update<R>(_ body: (inout LocalAPICState, UInt64) -> (R, [APICAction])) -> R {
        let now = clock.nanoseconds()
        let (result, actions, pending) = state.withLock { state -> (R, [APICAction], Bool) in
            let (result, actions) = body(&state, now)
            return (result, actions, state.deliverableVector != nil || state.nmiPending)
        }
        perform(actions)
        if pending { onRequest() }
        return result
    }

    private func perform(_ actions: [APICAction]) {
        for action in actions {
            switch action {
            case .send(let request, let destination, let logical):
                bus.deliver(request, to: destination, logical: logical)
            case .sendShorthand(let request, let shorthand):
                bus.deliver(request, from: self, shorthand: shorthand)
            case .endOfInterrupt(let vector):
                bus.broadcastEndOfInterrupt(vector: vector)
            }
        }
    }

    // MARK: InterruptAcceptor

    public func isAddressed(by destination: UInt32, logical: Bool) -> Bool {
        state.withLock { $0.isAddressed(by: destination, logical: logical) }
    }
    public var arbitrationPriority: UInt8 { state.withLock { UInt8(truncatingIfNeeded: $0.arbitrationPriority) } }
    public func accept(_ request: InterruptRequest) {
        update { state, _ in (state.accept(request), []) }
        if request.deliveryMode != .fixed && request.deliveryMode != .lowestPriority { onRequest() }
    }

    // MARK: LocalInterruptController

    public var apicID: UInt32 { state.withLock { $0.id } }
    public var baseMSR: UInt64 { state.withLock { $0.baseMSR } }
    public func setBaseMSR(_ value: UInt64) -> Bool { update { state, _ in (state.setBaseMSR(value), []) } }

    public func mapsRegisterPage(at address: UInt64) -> Bool {
        state.withLock { state in
            state.hardwareEnabled && !state.x2APICMode && address & ~0xFFF == state.registerPageBase
        }
    }

    /// Registers are 32 bits at 16-byte steps. A narrower read inside the first 4 bytes of a slot returns those bytes;
    /// bytes beyond them (and reserved offsets) read as zero.
    public func readRegister(offset: UInt64, size: Int) -> UInt64 {
        let slot = UInt32(offset & 0xFF0), within = Int(offset & 0xF)
        guard within < 4 else { return 0 }
        let value = UInt64(state.withLock { $0.readRegister(slot, now: clock.nanoseconds()) } ?? 0)
        let shifted = value >> UInt64(8 * within)
        return size >= 8 ? shifted : shifted & ((1 << UInt64(8 * size)) - 1)
    }

    /// Only aligned 32-bit (or wider, low half) stores reach a register, as on KVM; anything else is ignored.
    public func writeRegister(offset: UInt64, size: Int, value: UInt64) {
        guard offset & 0xF == 0, size >= 4 else { return }
        _ = update { state, now in
            let (_, actions) = state.writeRegister(UInt32(offset & 0xFF0), UInt32(truncatingIfNeeded: value), now: now)
            return ((), actions)
        }
    }

    public func readMSR(_ index: UInt32) -> UInt64? {
        state.withLock { state -> UInt64? in
            if index == MSRIndex.tscDeadline { return state.timerMode == .tscDeadline ? state.tscDeadline : 0 }
            guard state.x2APICMode, index >= 0x800, index <= 0x8FF else { return nil }
            let offset = (index - 0x800) << 4
            if offset == APICRegister.commandLow { return UInt64(state.commandHigh) << 32 | UInt64(state.commandLow) }
            return state.readRegister(offset, now: clock.nanoseconds()).map(UInt64.init)
        }
    }

    public func writeMSR(_ index: UInt32, _ value: UInt64) -> Bool {
        update { state, now -> (Bool, [APICAction]) in
            guard state.x2APICMode, index >= 0x800, index <= 0x8FF else { return (false, []) }
            let offset = (index - 0x800) << 4
            if offset == APICRegister.commandLow {
                state.commandHigh = UInt32(truncatingIfNeeded: value >> 32)
            } else if value >> 32 != 0 {
                return (false, [])   // every other x2APIC register is 32 bits; reserved bits set are #GP
            }
            return state.writeRegister(offset, UInt32(truncatingIfNeeded: value), now: now)
        }
    }

    public func armTSCDeadline(raw: UInt64, delay nanoseconds: UInt64) {
        update { state, now in (state.armTSCDeadline(raw: raw, dueAt: now &+ nanoseconds), []) }
    }

    public var taskPriorityClass: UInt8 { state.withLock { UInt8(($0.taskPriority >> 4) & 0xF) } }
    public func setTaskPriorityClass(_ value: UInt8) {
        update { state, _ in (state.taskPriority = UInt32(value & 0xF) << 4, []) }
    }

    public func serviceTimer() -> UInt64? {
        update { state, now in
            let due = state.serviceTimer(now: now)
            return (due.map { $0 > now ? $0 - now : 0 }, [])
        }
    }

    public var hasPendingInterrupt: Bool {
        let (local, external) = state.withLock { state in
            (state.deliverableVector != nil || state.initPending || state.startupVector != nil,
             state.acceptsExternalInterrupts)
        }
        return local || (external && externalController?.pendingInterrupt == true)
    }

    /// ExtINT from the 8259A first (it bypasses IRR and the priority check), then the APIC's own vectors.
    public func acknowledge() -> AcceptedInterrupt? {
        let external = state.withLock { $0.acceptsExternalInterrupts }
        if external, let controller = externalController, controller.pendingInterrupt,
           let vector = controller.acknowledge() {
            return .vector(vector)
        }
        return state.withLock { state -> AcceptedInterrupt? in
            if state.initPending {
                state.initPending = false
                return .initialize
            }
            if let vector = state.startupVector {
                state.startupVector = nil
                return .startup(vector: vector)
            }
            return state.acknowledge().map { .vector($0) }
        }
    }

    public func takeStartupSignal() -> AcceptedInterrupt? {
        state.withLock { state -> AcceptedInterrupt? in
            if state.initPending {
                state.initPending = false
                return .initialize
            }
            guard let vector = state.startupVector else { return nil }
            state.startupVector = nil
            return .startup(vector: vector)
        }
    }

    public var hasPendingNMI: Bool { state.withLock { $0.nmiPending } }

    public func takeNMI() -> Bool {
        state.withLock { state in
            defer { state.nmiPending = false }
            return state.nmiPending
        }
    }

    // MARK: Suspend

    // MARK: StatefulDevice (the register page, for a VMM that maps it on its MMIO bus)

    public func read(offset: UInt64, size: Int) -> UInt64 { readRegister(offset: offset, size: size) }
    public func write(offset: UInt64, size: Int, value: UInt64) { writeRegister(offset: offset, size: size, value: value) }

    public func saveState() -> LocalAPICState {
        let now = clock.nanoseconds()
        return state.withLock { state in
            var saved = state
            saved.timerRemainingAtSave = state.timerDue.map { $0 > now ? $0 - now : 0 }
            saved.timerDue = nil
            return saved
        }
    }

    public func restoreState(_ newState: LocalAPICState) throws {
        guard newState.lvt.count == LocalAPICState.lvtCount, newState.inService.isWellFormed,
              newState.interruptRequest.isWellFormed, newState.triggerMode.isWellFormed else {
            throw DeviceStateError.invalid(device: "local APIC", reason: "malformed register file")
        }
        var restored = newState
        if let remaining = restored.timerRemainingAtSave {
            restored.timerDue = clock.nanoseconds() &+ remaining
            restored.timerRemainingAtSave = nil
        }
        state.withLock { $0 = restored }
        onRequest()
    }
}

enum MSRIndex {
    static let tscDeadline: UInt32 = 0x6E0
}
