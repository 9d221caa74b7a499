import ApusCore
import ApusKVM
import Testing

/// What suspend needs from KVM beyond registers: the in-kernel PICs and IOAPIC, the LAPIC page and pending events
/// go out as bytes and come back into a fresh machine exactly.
@Suite struct KVMSnapshotStateTests {
    static let full = MachineOptions(vcpuCount: 1, interruptController: .full)
    /// kvm_irqchip: chip_id, pad, then kvm_pic_state { last_irr, irr, imr, ... }.
    static let picMaskOffset = 8 + 2
    /// The LAPIC's task-priority register (offset 0x80 in the register page).
    static let lapicTPROffset = 0x80

    @Test func irqchipAndLAPICStateMoveToAFreshMachine() throws {
        guard let source = try KVMTestMachine.make("irqchip state", code: [0xF4], options: Self.full) else { return }
        var machineState = try source.machine.captureMachineState()
        #expect(Set(machineState.keys) == ["kvm.clock", "kvm.pic_master", "kvm.pic_slave", "kvm.ioapic"])
        var vcpuState = try source.vcpu.captureState()
        #expect(vcpuState.backendState["kvm.lapic"]?.count == 1024)
        #expect(vcpuState.backendState["kvm.vcpu_events"] != nil)

        // Mark both so a copy that did not reach the kernel would show.
        machineState["kvm.pic_master"]?[Self.picMaskOffset] = 0xA5
        vcpuState.backendState["kvm.lapic"]?[Self.lapicTPROffset] = 0x70

        guard let target = try KVMTestMachine.make("irqchip state", code: [0xF4], options: Self.full) else { return }
        try target.machine.restoreMachineState(machineState)
        try target.vcpu.restoreState(vcpuState)
        let restoredMachine = try target.machine.captureMachineState()
        let restoredVCPU = try target.vcpu.captureState()
        #expect(restoredMachine["kvm.pic_master"]?[Self.picMaskOffset] == 0xA5)
        #expect(restoredMachine["kvm.ioapic"] == machineState["kvm.ioapic"])
        #expect(restoredVCPU.backendState["kvm.lapic"]?[Self.lapicTPROffset] == 0x70)
        #expect(restoredVCPU.registers == vcpuState.registers)
    }

    @Test func aBlobOfTheWrongSizeIsRefused() throws {
        guard let machine = try KVMTestMachine.make("irqchip state", code: [0xF4], options: Self.full) else { return }
        var state = try machine.machine.captureMachineState()
        state["kvm.ioapic"] = [1, 2, 3]
        #expect(throws: KVMError.self) { try machine.machine.restoreMachineState(state) }
        var vcpuState = try machine.vcpu.captureState()
        vcpuState.backendState["kvm.lapic"] = []
        #expect(throws: KVMError.self) { try machine.vcpu.restoreState(vcpuState) }
    }

    @Test func withoutAnIrqchipOnlyTheClockAndEventsAreSaved() throws {
        guard let machine = try KVMTestMachine.make("irqchip state", code: [0xF4]) else { return }
        #expect(Set(try machine.machine.captureMachineState().keys) == ["kvm.clock"])
        let state = try machine.vcpu.captureState()
        #expect(state.backendState["kvm.lapic"] == nil)
        #expect(state.backendState["kvm.mp_state"] != nil)
    }
}
