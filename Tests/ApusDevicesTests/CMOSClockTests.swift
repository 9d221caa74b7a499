import ApusDevices
import Testing

/// The MC146818 as firmware and Linux read it: BCD or binary, 12/24 hour, CMOS RAM, guest-set time.
@Suite struct CMOSClockTests {
    /// 2026-11-22 19:45:07 UTC, a Sunday.
    static let fixedTime: Int64 = 1_795_376_707

    private func register(_ clock: CMOSClock, _ index: UInt8) -> UInt8 {
        clock.write(offset: 0, size: 1, value: UInt64(index))
        return UInt8(clock.read(offset: 1, size: 1))
    }

    private func set(_ clock: CMOSClock, _ index: UInt8, _ value: UInt8) {
        clock.write(offset: 0, size: 1, value: UInt64(index))
        clock.write(offset: 1, size: 1, value: UInt64(value))
    }

    @Test func readsTheHostTimeInBCD() {
        let clock = CMOSClock { Self.fixedTime }
        #expect(register(clock, 0x00) == 0x07)
        #expect(register(clock, 0x02) == 0x45)
        #expect(register(clock, 0x04) == 0x19)
        #expect(register(clock, 0x07) == 0x22)
        #expect(register(clock, 0x08) == 0x11)
        #expect(register(clock, 0x09) == 0x26)
        #expect(register(clock, 0x32) == 0x20)
        #expect(register(clock, 0x06) == 0x01, "Sunday is day 1")
        #expect(register(clock, 0x0D) & 0x80 != 0, "the battery is good")
    }

    @Test func binaryAndTwelveHourFormsFollowRegisterB() {
        let clock = CMOSClock { Self.fixedTime }
        set(clock, 0x0B, 0x04)                               // binary, 12-hour
        #expect(register(clock, 0x04) == 0x80 | 7, "7 PM")
        #expect(register(clock, 0x02) == 45)
    }

    @Test func theGuestCanSetItsClock() {
        let clock = CMOSClock { Self.fixedTime }
        set(clock, 0x09, 0x30)                               // year 2030
        set(clock, 0x04, 0x08)                               // 08:xx
        #expect(register(clock, 0x09) == 0x30)
        #expect(register(clock, 0x04) == 0x08)
        #expect(register(clock, 0x02) == 0x45, "other fields keep running from the host clock")
    }

    @Test func cmosRAMAndNMIMask() throws {
        let clock = CMOSClock { Self.fixedTime }
        set(clock, 0x10, 0xAB)
        #expect(register(clock, 0x10) == 0xAB)
        clock.write(offset: 0, size: 1, value: 0x8F)
        #expect(clock.nmiMasked)
        let saved = clock.saveState()
        let copy = CMOSClock { Self.fixedTime }
        try copy.restoreState(saved)
        #expect(register(copy, 0x10) == 0xAB)
        var bad = saved
        bad.ram = [1, 2]
        #expect(throws: DeviceStateError.self) { try copy.restoreState(bad) }
    }

    @Test func hostileWritesNeverTrap() {
        let clock = CMOSClock { Self.fixedTime }
        var seed: UInt64 = 7
        for _ in 0..<20_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            clock.write(offset: seed >> 63, size: 1, value: seed >> 20)
            _ = clock.read(offset: (seed >> 62) & 1, size: 1)
        }
    }
}
