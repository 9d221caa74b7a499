import ApusSoftCPU
import Testing

/// The software CPU stores the guest's own descriptor-table registers, selectors and machine-status word for the
/// sensitive-but-unprivileged instructions at CPL3 (no UMIP), whatever the host's KVM does with them.
@Suite struct SensitiveInstructionTests {
    @Test func softCPUStoresTheGuestsRegisters() throws {
        let check = try SensitiveInstructionCheck(runner: UserModeRunner(SoftCPUHypervisor()))
        #expect(check.unrefereeable.isEmpty, "\(check.unrefereeable)")
    }
}
