public import ApusCore
import CKVM
#if canImport(Glibc)
import Glibc
#endif

/// A vCPU's complete state for suspend and migration: the architectural registers (as on every backend), with the
/// split irqchip the in-kernel LAPIC's register page (`localAPICPage`, which the VMM turns into the LAPIC state both
/// backends share), plus what only KVM holds — pending exceptions, interrupts and NMIs, the interrupt shadow and the
/// multiprocessing state.
extension KVMVCPU {
    static let eventsKey = "kvm.vcpu_events"
    static let mpStateKey = "kvm.mp_state"
    static let tscDeadline: UInt32 = 0x6E0

    /// MSRs a Linux guest on KVM depends on beyond the architectural ones every backend saves: the paravirtual
    /// clock, PV EOI, async page faults and steal time (without them a restored kernel's clock stands still and its
    /// interrupts stay unacknowledged), plus TSC_ADJUST, MISC_ENABLE and the TSC deadline timer. Ones this host's KVM
    /// does not have are left out by `msrs(_:)`.
    /// In restore order: the async-PF vector before the enable that refers to it.
    static let kvmMSRs: [UInt32] = [
        0x11, 0x12,                                     // MSR_KVM_WALL_CLOCK, MSR_KVM_SYSTEM_TIME
        0x4B56_4D00, 0x4B56_4D01,                       // their _NEW versions
        asyncPFInterrupt,                               // ASYNC_PF_INT
        0x4B56_4D02, 0x4B56_4D03, 0x4B56_4D04,          // ASYNC_PF_EN, STEAL_TIME, PV_EOI_EN
        0x3B, 0x1A0,                                    // TSC_ADJUST, MISC_ENABLE
    ]
    static let asyncPFInterrupt: UInt32 = 0x4B56_4D06

    public func captureState() throws -> CPUState {
        try completePendingIO()
        var state = CPUState(registers: try registers(), specialRegisters: try specialRegisters(), fpu: try fpu(),
                             msrs: try msrs(MSR.saved + Self.kvmMSRs + [Self.tscDeadline]))
        var events = kvm_vcpu_events()
        _ = try checked("KVM_GET_VCPU_EVENTS") { ckvm_get_vcpu_events(fd, &events) }
        if machine.options.interruptController == .full {
            var page = try localAPICPage()
            if events.interrupt.injected != 0 && events.interrupt.soft == 0
                && Self.takeBack(vector: events.interrupt.nr, in: &page) {
                events.interrupt.injected = 0
            }
            state.localAPICPage = page
        }
        state.backendState[Self.eventsKey] = KVMStateBlob.bytes(of: events)
        var mpState = kvm_mp_state()
        _ = try checked("KVM_GET_MP_STATE") { ckvm_get_mp_state(fd, &mpState) }
        state.backendState[Self.mpStateKey] = KVMStateBlob.bytes(of: mpState)
        state.halted = mpState.mp_state == UInt32(KVM_MP_STATE_HALTED)
        switch mpState.mp_state {
        case UInt32(KVM_MP_STATE_UNINITIALIZED): state.startupWait = .initialize
        case UInt32(KVM_MP_STATE_INIT_RECEIVED): state.startupWait = .startupIPI
        default: break
        }
        return state
    }

    /// A LAPIC interrupt KVM has acknowledged (IRR to ISR) but not yet delivered through the IDT when the vCPU left
    /// KVM_RUN waits in `kvm_vcpu_events` as "injected", which only KVM understands. Moved back from ISR to IRR it is
    /// the same interrupt still requested, which either backend delivers on resume. False (the events keep it) when
    /// the vector is not the LAPIC's highest in service: an 8259A vector injected with KVM_INTERRUPT.
    static func takeBack(vector: UInt8, in page: inout APICRegisterPage) -> Bool {
        let isr = 0x100, irr = 0x200
        let bit = UInt32(1) << UInt32(vector & 31), offset = 16 * Int(vector >> 5)
        guard page[isr + offset] & bit != 0 else { return false }
        for higher in stride(from: 7, to: Int(vector >> 5), by: -1) where page[isr + 16 * higher] != 0 { return false }
        guard page[isr + offset] & ~(bit | (bit - 1)) == 0 else { return false }
        page[isr + offset] &= ~bit
        page[irr + offset] |= bit
        return true
    }

    /// In the order KVM needs: special registers (APIC base among them) before the LAPIC page, the LAPIC before the
    /// TSC deadline and the events that may reference it, the multiprocessing state last. A state captured on
    /// another backend has no KVM part, and the vCPU starts with no event pending.
    public func restoreState(_ state: CPUState) throws {
        try setSpecialRegisters(state.specialRegisters)
        try setRegisters(state.registers)
        try setFPU(state.fpu)
        try setMSRs(state.msrs.filter { MSR.saved.contains($0.key) })
        for index in Self.kvmMSRs {
            guard let value = state.msrs[index] else { continue }
            // KVM refuses vector 0 for async-PF interrupts; 0 only means the guest never set one.
            if index == Self.asyncPFInterrupt && value == 0 { continue }
            try setMSRs([index: value])
        }
        if let page = state.localAPICPage {
            guard machine.options.interruptController == .full else {
                throw KVMError.badSavedState("a LAPIC state for a machine without an interrupt controller")
            }
            try setLocalAPICPage(page)
        }
        // The deadline timer arms only once the LAPIC is in TSC-deadline mode.
        if let deadline = state.msrs[Self.tscDeadline] { try setMSRs([Self.tscDeadline: deadline]) }
        guard !state.backendState.isEmpty else {
            // Captured on the software CPU: a vCPU halted there waits in HLT here too (it sleeps in the kernel only
            // with an in-kernel LAPIC to wake it), and an application processor waiting for start-up waits here.
            guard machine.options.interruptController == .full else { return }
            var mpState = kvm_mp_state()
            switch state.startupWait {
            case .initialize?: mpState.mp_state = UInt32(KVM_MP_STATE_UNINITIALIZED)
            case .startupIPI?: mpState.mp_state = UInt32(KVM_MP_STATE_INIT_RECEIVED)
            case nil where state.halted: mpState.mp_state = UInt32(KVM_MP_STATE_HALTED)
            case nil: return
            }
            _ = try checked("KVM_SET_MP_STATE") { ckvm_set_mp_state(fd, &mpState) }
            return
        }
        var events = kvm_vcpu_events()
        try KVMStateBlob.load(kvm_vcpu_events.self, from: state.backendState[Self.eventsKey], name: "vCPU events",
                              into: &events)
        _ = try checked("KVM_SET_VCPU_EVENTS") { ckvm_set_vcpu_events(fd, &events) }
        var mpState = kvm_mp_state()
        try KVMStateBlob.load(kvm_mp_state.self, from: state.backendState[Self.mpStateKey], name: "MP state",
                              into: &mpState)
        _ = try checked("KVM_SET_MP_STATE") { ckvm_set_mp_state(fd, &mpState) }
    }
}

extension KVMVCPU {
    /// A port or MMIO read KVM exited for is finished only on the next KVM_RUN (it copies the value the VMM left in
    /// kvm_run into the guest and advances RIP). A machine paused right after such an exit would save the
    /// instruction unfinished, and the restored guest would read the device a second time (a UART's IIR or data
    /// register read twice loses an interrupt or a byte). KVM_RUN with immediate_exit set completes it and returns
    /// at once, as the KVM API documents for saving state.
    func completePendingIO() throws {
        ckvm_run_set_immediate_exit(runArea, 1)
        defer { ckvm_run_set_immediate_exit(runArea, 0) }
        if ckvm_run(fd) < 0 {
            let code = errno
            guard code == EINTR || code == EAGAIN else { throw KVMError.ioctl(name: "KVM_RUN", errno: code) }
        }
    }
}
