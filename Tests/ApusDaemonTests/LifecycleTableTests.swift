import ApusAPI
import Testing

/// The lifecycle of DEVELOPERS.md as a table: which operations each state allows.
@Suite struct LifecycleTableTests {
    @Test func eachStateAllowsExactlyItsOperations() {
        #expect(VMState.inactive.allowedOperations == [.start, .update, .undefine])
        #expect(VMState.active.allowedOperations == [.pause, .suspend, .stop, .reboot])
        #expect(VMState.paused.allowedOperations == [.resume, .suspend, .stop, .reboot])
        #expect(VMState.suspended.allowedOperations == [.resume, .stop])
    }

    @Test func resumeLeavesPausedAndSuspendedOnly() {
        let resumable = VMState.allCases.filter { $0.allows(.resume) }
        #expect(resumable == [.paused, .suspended])
    }

    @Test func undefineAndUpdateNeedAnInactiveVM() {
        for state in VMState.allCases where state != .inactive {
            #expect(!state.allows(.undefine))
            #expect(!state.allows(.update))
        }
    }
}
