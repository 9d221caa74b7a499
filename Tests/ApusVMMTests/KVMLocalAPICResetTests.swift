import ApusCore
import ApusDevices
import ApusKVM
import Testing

/// KVM's LAPIC and Apus's start from the same power-up state, read through the same translation the snapshots use:
/// otherwise a guest could tell the backends apart before it touched the APIC, and a moved machine would change.
@Suite struct KVMLocalAPICResetTests {
    @Test func kvmsResetLAPICIsTheModelsPowerUpState() throws {
        if case .unusable(let reason) = KVMHypervisor().availability() {
            print("KVMLocalAPICResetTests: skipped, KVM is not usable here: \(reason)")
            return
        }
        let memory = try GuestMemory(size: 2 << 20)
        let machine = try KVMHypervisor().makeMachine(memory: memory,
                                                      options: MachineOptions(interruptController: .full))
        let vcpu = try machine.makeVCPU(index: 0)
        let state = try vcpu.captureState()
        let page = try #require(state.localAPICPage, "a vCPU on the split irqchip has an in-kernel LAPIC")
        let kvm = LocalAPICState(registerPage: page, baseMSR: state.specialRegisters.apicBase, tscDeadline: 0)
        let model = LocalAPICState(id: 0, bootstrap: true)
        #expect(kvm.baseMSR == model.baseMSR, "IA32_APIC_BASE")
        #expect(kvm.id == model.id)
        #expect(kvm.lvt == model.lvt, "LVT: LINT0 in ExtINT mode on the bootstrap processor, the rest masked")
        #expect(kvm.spuriousVector == model.spuriousVector)
        #expect(kvm.destinationFormat == model.destinationFormat)
        #expect(kvm.taskPriority == model.taskPriority)
        #expect(kvm == model, "the whole state")
    }
}
