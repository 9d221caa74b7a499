import ApusCore
import ApusDevices
import ApusTesting
import Synchronization
import Testing

/// The 8254 against a clock the test sets, so every value is exact.
@Suite struct PIT8254Tests {
    final class ManualClock: DeviceClock {
        let time = Mutex<UInt64>(1_000_000_000)
        func nanoseconds() -> UInt64 { time.withLock { $0 } }
        func advance(nanoseconds: UInt64) { time.withLock { $0 += nanoseconds } }
    }

    private func pit() -> (PIT8254, RecordingInterruptLine, ManualClock) {
        let line = RecordingInterruptLine(), clock = ManualClock()
        return (PIT8254(irq0: line, clock: clock), line, clock)
    }

    private func pulses(_ line: RecordingInterruptLine) -> Int { line.history.filter { $0 }.count }

    @Test func rateGeneratorRaisesIRQ0EveryPeriod() {
        let (pit, line, clock) = pit()
        #expect(pit.nextInterrupt() == nil, "not counting before it is programmed")
        pit.write(offset: 3, size: 1, value: 0x34)          // channel 0, lobyte/hibyte, mode 2
        pit.write(offset: 0, size: 1, value: 0xA9)          // 1193 = 0x04A9: about 1 ms
        pit.write(offset: 0, size: 1, value: 0x04)
        let first = pit.nextInterrupt() ?? 0
        #expect(first > clock.nanoseconds() && first - clock.nanoseconds() <= 1_001_000)
        #expect(!pit.deliverDueInterrupts())
        clock.advance(nanoseconds: 1_001_000)          // 1194 ticks: the load takes one tick, then 1193
        #expect(pit.deliverDueInterrupts())
        #expect(pulses(line) == 1)
        #expect(!pit.deliverDueInterrupts(), "one edge, one interrupt")
        clock.advance(nanoseconds: 1_000_000)
        #expect(pit.deliverDueInterrupts())
        #expect(pulses(line) == 2)
    }

    @Test func softwareStrobeFiresOnceAsLinuxOneShotClockEventsUseIt() {
        // Linux's i8253 clock event in one-shot mode: control word 0x38 (channel 0, lobyte/hibyte, mode 4), then a
        // count per event. Exactly one IRQ 0 per count written, none after it.
        let (pit, line, clock) = pit()
        pit.write(offset: 3, size: 1, value: 0x38)
        pit.write(offset: 0, size: 1, value: 0xA9)
        pit.write(offset: 0, size: 1, value: 0x04)
        #expect(pit.nextInterrupt() != nil, "a mode 4 count is an event")
        clock.advance(nanoseconds: 1_010_000)
        #expect(pit.deliverDueInterrupts())
        clock.advance(nanoseconds: 60_000_000)
        #expect(!pit.deliverDueInterrupts(), "a strobe fires once, not every period")
        #expect(pit.nextInterrupt() == nil)
        pit.write(offset: 0, size: 1, value: 0x10)          // the next event: reloading restarts the count
        pit.write(offset: 0, size: 1, value: 0x00)
        clock.advance(nanoseconds: 4_000_000)
        #expect(pit.deliverDueInterrupts())
        #expect(pulses(line) == 2)
    }

    @Test func latchedCountsHoldStillWhileTheCounterRuns() {
        let (pit, _, clock) = pit()
        pit.write(offset: 3, size: 1, value: 0x34)
        pit.write(offset: 0, size: 1, value: 0x00)          // 0 = 65536
        pit.write(offset: 0, size: 1, value: 0x00)
        clock.advance(nanoseconds: 10_000_000)              // 11,931 ticks
        pit.write(offset: 3, size: 1, value: 0x00)          // latch channel 0
        clock.advance(nanoseconds: 5_000_000)
        let low = pit.read(offset: 0, size: 1), high = pit.read(offset: 0, size: 1)
        let latched = Int(high) << 8 | Int(low)
        #expect(abs(latched - (65536 - 11_931)) <= 2, "latched \(latched)")
        let liveLow = pit.read(offset: 0, size: 1), liveHigh = pit.read(offset: 0, size: 1)
        #expect(Int(liveHigh) << 8 | Int(liveLow) < latched, "after the latch is read, the live count shows")
    }

    @Test func channelTwoOneShotAsLinuxCalibratesTheTSC() {
        let (pit, _, clock) = pit()
        let portB = pit.systemControlPort
        portB.write(offset: 0, size: 1, value: (portB.read(offset: 0, size: 1) & ~0x02) | 0x01)   // gate on, speaker off
        pit.write(offset: 3, size: 1, value: 0xB0)          // channel 2, lobyte/hibyte, mode 0
        pit.write(offset: 2, size: 1, value: 0x9B)          // 11931 = 0x2E9B: 10 ms
        pit.write(offset: 2, size: 1, value: 0x2E)
        #expect(portB.read(offset: 0, size: 1) & 0x20 == 0, "OUT2 low while counting")
        clock.advance(nanoseconds: 9_000_000)
        #expect(portB.read(offset: 0, size: 1) & 0x20 == 0)
        clock.advance(nanoseconds: 1_100_000)
        #expect(portB.read(offset: 0, size: 1) & 0x20 != 0, "OUT2 high once the count expired")
    }

    @Test func readBackReportsModeAndOutput() {
        let (pit, _, _) = pit()
        pit.write(offset: 3, size: 1, value: 0x36)          // channel 0, lobyte/hibyte, mode 3
        pit.write(offset: 3, size: 1, value: 0xE2)          // read-back status of channel 0
        let status = pit.read(offset: 0, size: 1)
        #expect(status & 0x0E == 0x06)                      // mode 3
        #expect(status & 0x30 == 0x30)                      // lobyte/hibyte
        #expect(status & 0x40 != 0, "null count until a count is written")
    }

    @Test func stateCarriesTheCountAcrossARestore() throws {
        let (pit, _, clock) = pit()
        pit.write(offset: 3, size: 1, value: 0x34)
        pit.write(offset: 0, size: 1, value: 0x00)
        pit.write(offset: 0, size: 1, value: 0x80)          // 0x8000
        clock.advance(nanoseconds: 5_000_000)
        let saved = pit.saveState()
        let (copy, _, otherClock) = self.pit()
        otherClock.advance(nanoseconds: 123_456_789_000)    // another host, another uptime
        try copy.restoreState(saved)
        copy.write(offset: 3, size: 1, value: 0x00)
        pit.write(offset: 3, size: 1, value: 0x00)
        let restored = Int(copy.read(offset: 0, size: 1)) | Int(copy.read(offset: 0, size: 1)) << 8
        let original = Int(pit.read(offset: 0, size: 1)) | Int(pit.read(offset: 0, size: 1)) << 8
        #expect(abs(restored - original) <= 1)
        var bad = saved
        bad.channels[1].mode = 7
        #expect(throws: DeviceStateError.self) { try copy.restoreState(bad) }
    }

    @Test func hostileProgrammingNeverTraps() {
        let (pit, _, clock) = pit()
        var seed: UInt64 = 42
        for _ in 0..<20_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let port = (seed >> 60) & 3
            if seed & 1 == 0 { pit.write(offset: port, size: 1, value: seed >> 32) } else { _ = pit.read(offset: port, size: 1) }
            if seed & 0x30 == 0 { clock.advance(nanoseconds: seed >> 40) }
            if seed & 0x300 == 0 { pit.deliverDueInterrupts() }
            _ = pit.nextInterrupt()
        }
    }
}
