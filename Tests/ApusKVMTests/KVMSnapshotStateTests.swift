import ApusCore
import ApusKVM
import Testing

/// What suspend needs from KVM beyond registers: on the split irqchip the in-kernel LAPIC's register page travels
/// with the vCPU (as a neutral `APICRegisterPage`, which the VMM turns into the LAPIC state both backends share),
/// pending events as KVM's own bytes; machine-wide only the clock stays in the kernel.
@Suite struct KVMSnapshotStateTests {
    static let full = MachineOptions(vcpuCount: 1, interruptController: .full)
    /// The LAPIC's task-priority register (offset 0x80 in the register page).
    static let lapicTPROffset = 0x80

    @Test func theLAPICPageMovesToAFreshMachine() throws {
        guard let source = try KVMTestMachine.make("LAPIC state", code: [0xF4], options: Self.full) else { return }
        #expect(Set(try source.machine.captureMachineState().keys) == ["kvm.clock"])
        var vcpuState = try source.vcpu.captureState()
        var page = try #require(vcpuState.localAPICPage)
        #expect(vcpuState.backendState["kvm.vcpu_events"] != nil)
        #expect(page[0x30] & 0xFF == 0x14, "an integrated APIC's version register")

        // Mark it so a copy that did not reach the kernel would show.
        page[Self.lapicTPROffset] = 0x70
        vcpuState.localAPICPage = page

        guard let target = try KVMTestMachine.make("LAPIC state", code: [0xF4], options: Self.full) else { return }
        try target.vcpu.restoreState(vcpuState)
        let restored = try target.vcpu.captureState()
        #expect(restored.localAPICPage?[Self.lapicTPROffset] == 0x70)
        #expect(restored.registers == vcpuState.registers)
    }

    @Test func aLAPICForAMachineWithoutOneIsRefused() throws {
        guard let full = try KVMTestMachine.make("LAPIC state", code: [0xF4], options: Self.full) else { return }
        let state = try full.vcpu.captureState()
        guard let bare = try KVMTestMachine.make("LAPIC state", code: [0xF4]) else { return }
        #expect(throws: KVMError.self) { try bare.vcpu.restoreState(state) }
    }

    @Test func aBlobOfTheWrongSizeIsRefused() throws {
        guard let machine = try KVMTestMachine.make("LAPIC state", code: [0xF4], options: Self.full) else { return }
        #expect(throws: KVMError.self) { try machine.machine.restoreMachineState(["kvm.clock": [1, 2, 3]]) }
        var vcpuState = try machine.vcpu.captureState()
        vcpuState.backendState["kvm.vcpu_events"] = []
        #expect(throws: KVMError.self) { try machine.vcpu.restoreState(vcpuState) }
    }

    @Test func withoutAnInterruptControllerThereIsNoLAPIC() throws {
        guard let machine = try KVMTestMachine.make("LAPIC state", code: [0xF4]) else { return }
        #expect(Set(try machine.machine.captureMachineState().keys) == ["kvm.clock"])
        let state = try machine.vcpu.captureState()
        #expect(state.localAPICPage == nil)
        #expect(state.backendState["kvm.mp_state"] != nil)
    }
}
