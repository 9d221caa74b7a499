import ApusCore
import ApusDevices
import Testing

/// The LAPIC state as the xAPIC register page a backend (KVM_GET_LAPIC) hands over, and back: every register at
/// its architectural offset, the timer's time left as a current count, and nothing lost on the round trip.
@Suite struct LocalAPICRegisterPageTests {
    /// A saved state with something in every register the page holds.
    static func busyState() -> LocalAPICState {
        var state = LocalAPICState(id: 3, bootstrap: false)
        state.taskPriority = 0x20
        state.logicalDestination = 0x0400_0000
        state.destinationFormat = 0x0FFF_FFFF
        state.spuriousVector = 0x1FF
        state.inService[0x52] = true
        state.triggerMode[0x52] = true
        state.interruptRequest[0x41] = true
        state.interruptRequest[0xEF] = true
        state.errorStatus = 0x40
        state.commandLow = 0x4_4051
        state.commandHigh = 0x0100_0000
        state.lvt = [0x2_0030, 0x1_0000, 0x1_0000, 0x1_0700, 0x400, 0x1_00FE]
        state.timerInitialCount = 200_000
        state.timerDivide = 0x3   // divide by 16
        state.timerRemainingAtSave = 16 * 1234
        return state
    }

    @Test func registersSitAtTheirArchitecturalOffsets() {
        let page = Self.busyState().registerPage
        #expect(page[0x20] == 3 << 24, "xAPIC ID format")
        #expect(page[0x80] == 0x20)
        #expect(page[0xA0] == 0x50, "PPR: the in-service class")
        #expect(page[0xF0] == 0x1FF)
        #expect(page[0x100 + 16 * 2] == 1 << (0x52 - 64), "ISR word 2 holds vector 0x52")
        #expect(page[0x180 + 16 * 2] == 1 << (0x52 - 64))
        #expect(page[0x200 + 16 * 2] == 1 << (0x41 - 64))
        #expect(page[0x200 + 16 * 7] == 1 << (0xEF - 224))
        #expect(page[0x320] == 0x2_0030 && page[0x350] == 0x1_0700 && page[0x370] == 0x1_00FE)
        #expect(page[0x380] == 200_000 && page[0x3E0] == 0x3)
        #expect(page[0x390] == 1234, "the time left at 16 ns per count")
    }

    @Test func aStateSurvivesTheRoundTrip() {
        let state = Self.busyState()
        let back = LocalAPICState(registerPage: state.registerPage, baseMSR: state.baseMSR, tscDeadline: 0)
        #expect(back == state)
    }

    @Test func aStoppedTimerAndTheResetStateRoundTrip() {
        let reset = LocalAPICState(id: 0, bootstrap: true)
        #expect(LocalAPICState(registerPage: reset.registerPage, baseMSR: reset.baseMSR, tscDeadline: 0) == reset)
    }

    @Test func aTSCDeadlineComesFromTheMSRNotTheCount() {
        var state = LocalAPICState(id: 0, bootstrap: true)
        state.lvt[0] = 0x4_0030
        var page = state.registerPage
        page[0x390] = 77   // a deadline-mode page's count means nothing
        let armed = LocalAPICState(registerPage: page, baseMSR: state.baseMSR, tscDeadline: 9_000,
                                   tscDeadlineRemaining: 500)
        #expect(armed.tscDeadline == 9_000)
        #expect(armed.timerRemainingAtSave == 500)
        let disarmed = LocalAPICState(registerPage: page, baseMSR: state.baseMSR, tscDeadline: 0)
        #expect(disarmed.timerRemainingAtSave == nil)
    }

    @Test func anExpiredOneShotWhoseVectorIsNowhereIsDueAtOnce() {
        // KVM keeps an expiry it has not injected yet outside the page: the count reads 0 and IRR is empty.
        var state = LocalAPICState(id: 0, bootstrap: true)
        state.lvt[0] = 0x31          // one-shot, vector 0x31, unmasked
        state.timerInitialCount = 1_000
        let page = state.registerPage
        let owed = LocalAPICState(registerPage: page, baseMSR: state.baseMSR, tscDeadline: 0)
        #expect(owed.timerRemainingAtSave == 0)
        var delivered = page
        delivered[0x200 + 16 * (0x31 / 32)] = 1 << (0x31 % 32)   // the vector already pending in IRR
        #expect(LocalAPICState(registerPage: delivered, baseMSR: state.baseMSR, tscDeadline: 0).timerRemainingAtSave == nil)
        var periodic = page
        periodic[0x320] = 0x2_0031   // a periodic timer reads 0 only when stopped
        #expect(LocalAPICState(registerPage: periodic, baseMSR: state.baseMSR, tscDeadline: 0).timerRemainingAtSave == nil)
    }

    @Test func aHostilePageStillGivesAUsableState() throws {
        // Every bit set: reserved bits are dropped, and the state restores into a LocalAPIC.
        let page = try #require(APICRegisterPage(bytes: Array(repeating: 0xFF, count: APICRegisterPage.size)))
        let state = LocalAPICState(registerPage: page, baseMSR: 0xFEE0_0900, tscDeadline: 0)
        #expect(state.spuriousVector == 0x3FF && state.timerDivide == 0xB && state.id == 0xFF)
        let apic = LocalAPIC(id: 0, bootstrap: true, bus: InterruptBus(), externalController: nil)
        try apic.restoreState(state)
        #expect(APICRegisterPage(bytes: [1, 2, 3]) == nil, "a page of the wrong size is refused")
    }
}
