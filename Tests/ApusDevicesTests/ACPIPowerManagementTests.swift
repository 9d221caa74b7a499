import ApusCore
import ApusDevices
import Synchronization
import Testing

/// The ACPI PM block: S5 through PM1a_CNT powers off, the reset register resets, the PM timer counts at
/// 3.579545 MHz on the injected clock, status bits clear by writing ones, and the SCI follows status & enable.
@Suite struct ACPIPowerManagementTests {
    final class TestClock: DeviceClock {
        let now = Mutex<UInt64>(5_000_000_000)
        func nanoseconds() -> UInt64 { now.withLock { $0 } }
        func advance(_ nanoseconds: UInt64) { now.withLock { $0 += nanoseconds } }
    }

    final class Events: Sendable {
        let list = Mutex<[String]>([])
        func add(_ event: String) { list.withLock { $0.append(event) } }
        var all: [String] { list.withLock { $0 } }
    }

    final class Level: InterruptLine {
        let last = Mutex<Bool?>(nil)
        func setLevel(_ asserted: Bool) { last.withLock { $0 = asserted } }
    }

    func make(_ clock: TestClock, _ events: Events, sci: Level = Level()) -> ACPIPowerManagement {
        ACPIPowerManagement(sci: sci, clock: clock, onPowerOff: { events.add("off") }, onReset: { events.add("reset") })
    }

    @Test func sleepTypeFiveWithSleepEnablePowersOff() {
        let events = Events()
        let pm = make(TestClock(), events)
        #expect(pm.read(offset: 4, size: 2) & 1 == 1, "SCI_EN: always in ACPI mode")
        pm.write(offset: 4, size: 2, value: 5 << 10)            // SLP_TYP alone, as ACPICA writes it first
        #expect(events.all.isEmpty)
        pm.write(offset: 4, size: 2, value: 3 << 10 | 1 << 13)  // S3 is not offered: nothing
        #expect(events.all.isEmpty)
        pm.write(offset: 4, size: 2, value: 5 << 10 | 1 << 13)
        #expect(events.all == ["off"])
        #expect(pm.read(offset: 4, size: 2) & (1 << 13) == 0, "SLP_EN reads as zero")
    }

    @Test func theResetRegisterResetsOnItsValueOnly() {
        let events = Events()
        let pm = make(TestClock(), events)
        pm.write(offset: 12, size: 1, value: 0x01)
        pm.write(offset: 12, size: 1, value: UInt64(ACPIPowerManagement.resetValue))
        #expect(events.all == ["reset"])
    }

    @Test func thePMTimerCountsAtItsFrequencyAndWraps() {
        let clock = TestClock()
        let pm = make(clock, Events())
        let start = pm.read(offset: 8, size: 4)
        clock.advance(1_000_000_000)
        #expect(pm.read(offset: 8, size: 4) &- start == 3_579_545)
        pm.write(offset: 8, size: 4, value: 0)   // read-only
        #expect(pm.read(offset: 8, size: 4) &- start == 3_579_545)
        clock.advance(600_000_000_000)           // past 2^31 ticks: TMR_STS
        #expect(pm.read(offset: 0, size: 2) & 1 == 1)
        pm.write(offset: 0, size: 2, value: 1)
        #expect(pm.read(offset: 0, size: 2) & 1 == 0, "cleared by writing one")
    }

    @Test func sciFollowsEnabledStatusAndStateRoundTrips() throws {
        let clock = TestClock(), sci = Level()
        let pm = make(clock, Events(), sci: sci)
        pm.write(offset: 2, size: 2, value: 1)   // TMR_EN
        clock.advance(700_000_000_000)
        _ = pm.read(offset: 0, size: 2)
        #expect(sci.last.withLock { $0 } == true)
        pm.write(offset: 0, size: 2, value: 0xFFFF)
        #expect(sci.last.withLock { $0 } == false)
        let saved = pm.saveState()
        let other = make(TestClock(), Events())
        try other.restoreState(saved)
        #expect(other.read(offset: 8, size: 4) == UInt64(saved.timerAtSave))
        #expect(other.read(offset: 2, size: 2) == 1)
        var bad = saved
        bad.enable = 0x8000
        #expect(throws: DeviceStateError.self) { try other.restoreState(bad) }
    }

    @Test func hostileAccessesNeverTrap() {
        let events = Events()
        let pm = make(TestClock(), events)
        var seed: UInt64 = 7
        for _ in 0..<20_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let offset = (seed >> 10) & 0xF, size = [1, 2, 4, 8][Int(seed >> 20) & 3]
            if seed & 1 == 0 { _ = pm.read(offset: offset, size: size) }
            else if !(offset..<offset + UInt64(size)).contains(where: { [4, 5, 12].contains($0) }) {
                pm.write(offset: offset, size: size, value: seed >> 24)   // anything but PM1a_CNT and reset
            }
        }
        #expect(events.all.isEmpty)
    }
}
