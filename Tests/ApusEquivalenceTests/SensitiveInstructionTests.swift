import ApusSoftCPU
import Testing

/// The software CPU stores the guest's own descriptor-table registers, selectors and machine-status word for the
/// sensitive-but-unprivileged instructions at CPL3 (no UMIP), whatever the host's KVM does with them.
@Suite struct SensitiveInstructionTests {
    @Test func softCPUStoresTheGuestsRegisters() throws {
        let check = try SensitiveInstructionCheck(runner: UserModeRunner(SoftCPUHypervisor()))
        // SMSW is not implemented yet (issue 18): #UD.
        #expect(check.unrefereeable.keys.filter { $0 != .smsw }.isEmpty, "\(check.unrefereeable)")
    }
}
