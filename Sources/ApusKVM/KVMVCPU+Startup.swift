import CKVM

extension KVMVCPU {
    /// An application processor at power-on: its in-kernel local APIC holds it inside KVM_RUN until INIT and a
    /// start-up IPI arrive, then KVM starts it in real mode at the vector's page. KVM already creates every vCPU but
    /// the boot CPU in this state; saying so keeps that true whatever the creation order.
    public func awaitStartup() throws {
        guard machine.options.interruptController == .full else {
            throw KVMError.unsupported("an application processor needs the interrupt-controller platform (a local APIC)")
        }
        var state = kvm_mp_state()
        state.mp_state = UInt32(KVM_MP_STATE_UNINITIALIZED)
        _ = try checked("KVM_SET_MP_STATE") { ckvm_set_mp_state(fd, &state) }
    }
}
