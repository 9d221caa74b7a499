import ApusCore
import ApusDevices
import Synchronization
import Testing

/// The IOAPIC as a state machine: redirection entries through IOREGSEL/IOWIN, edge and level pins with remote IRR
/// and EOI, masking, and whatever a hostile guest writes.
@Suite struct IOAPICTests {
    final class Sink: MSISink {
        let messages = Mutex<[MSIMessage]>([])
        func deliver(_ message: MSIMessage) -> Bool {
            messages.withLock { $0.append(message) }
            return true
        }
        func take() -> [MSIMessage] {
            messages.withLock { list in
                defer { list = [] }
                return list
            }
        }
    }

    func program(_ ioapic: IOAPIC, pin: Int, low: UInt32, destination: UInt8 = 0) {
        ioapic.write(offset: 0, size: 4, value: UInt64(0x10 + 2 * pin + 1))
        ioapic.write(offset: 0x10, size: 4, value: UInt64(destination) << 24)
        ioapic.write(offset: 0, size: 4, value: UInt64(0x10 + 2 * pin))
        ioapic.write(offset: 0x10, size: 4, value: UInt64(low))
    }

    @Test func versionAndResetStateAreWhatLinuxExpects() {
        let ioapic = IOAPIC(sink: Sink())
        ioapic.write(offset: 0, size: 4, value: 1)
        #expect(ioapic.read(offset: 0x10, size: 4) == 0x0017_0011)
        ioapic.write(offset: 0, size: 4, value: 0x10)
        #expect(ioapic.read(offset: 0x10, size: 4) == 0x0001_0000, "pins are masked at reset")
    }

    @Test func anEdgePinDeliversOnItsRisingEdgeOnly() throws {
        let sink = Sink()
        let ioapic = IOAPIC(sink: sink)
        program(ioapic, pin: 4, low: 0x34, destination: 1)
        let line = try ioapic.line(4)
        line.setLevel(true)
        line.setLevel(true)
        line.setLevel(false)
        #expect(sink.take() == [MSIMessage(vector: 0x34, destination: 1)])
    }

    @Test func aLevelPinWaitsForItsEOIAndDeliversAgainWhileAsserted() throws {
        let sink = Sink()
        let ioapic = IOAPIC(sink: sink)
        program(ioapic, pin: 9, low: 0x8000 | 0x49)
        let line = try ioapic.line(9)
        line.setLevel(true)
        line.setLevel(true)
        #expect(sink.take() == [MSIMessage(vector: 0x49, destination: 0, levelTriggered: true)])
        ioapic.write(offset: 0, size: 4, value: 0x10 + 18)
        #expect(ioapic.read(offset: 0x10, size: 4) & (1 << 14) != 0, "remote IRR is set until the EOI")
        ioapic.endOfInterrupt(vector: 0x48)
        #expect(sink.take().isEmpty, "an EOI of another vector leaves the pin waiting")
        ioapic.endOfInterrupt(vector: 0x49)
        #expect(sink.take().count == 1, "still asserted: delivered again")
        line.setLevel(false)
        ioapic.endOfInterrupt(vector: 0x49)
        #expect(sink.take().isEmpty)
        #expect(ioapic.read(offset: 0x10, size: 4) & (1 << 14) == 0)
    }

    @Test func maskedPinsDeliverNothingAndALevelDeliversWhenUnmasked() throws {
        let sink = Sink()
        let ioapic = IOAPIC(sink: sink)
        program(ioapic, pin: 3, low: 0x1_0033)            // edge, masked
        program(ioapic, pin: 5, low: 0x1_8035)            // level, masked
        try ioapic.line(3).pulse()
        try ioapic.line(5).setLevel(true)
        #expect(sink.take().isEmpty)
        program(ioapic, pin: 3, low: 0x33)
        #expect(sink.take().isEmpty, "an edge that came while masked is lost")
        program(ioapic, pin: 5, low: 0x8035)
        #expect(sink.take().map(\.vector) == [0x35])
    }

    @Test func hostileAccessesNeverTrapAndStateChecksOnRestore() throws {
        let sink = Sink()
        let ioapic = IOAPIC(sink: sink)
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<20_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let offset = (seed >> 8) & 0xFFF, size = [1, 2, 4, 8][Int(seed >> 20) & 3]
            if seed & 1 == 0 { _ = ioapic.read(offset: offset, size: size) }
            else { ioapic.write(offset: offset & 0x1F, size: size, value: seed >> 32) }
            if seed & 0x30 == 0 { try ioapic.line(Int(seed >> 40) % 24).setLevel(seed & 0x40 != 0) }
            if seed & 0x300 == 0 { ioapic.endOfInterrupt(vector: UInt8(truncatingIfNeeded: seed >> 48)) }
        }
        #expect(throws: InterruptRoutingError.unroutable(gsi: 24)) { try ioapic.line(24) }
        let saved = ioapic.saveState()
        #expect(saved.redirection.allSatisfy { $0 & 0x00FF_FFFF_FFFE_0000 == 0 }, "reserved bits stay clear")
        var bad = saved
        bad.redirection.removeLast()
        #expect(throws: DeviceStateError.self) { try ioapic.restoreState(bad) }
        try ioapic.restoreState(saved)
        #expect(ioapic.saveState() == saved)
    }
}
