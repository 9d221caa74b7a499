import ApusCore
import ApusDevices
import Synchronization
import Testing

/// The 8259A pair as Linux and BIOSes program it: ICW1-4, masks, EOI, cascade, level inputs, rotation, poll.
@Suite struct DualPICTests {
    /// The sequence Linux's init_8259A uses: vectors 0x30/0x38, cascade on IRQ 2, 8086 mode, then everything masked.
    private func programmed(masterMask: UInt8 = 0xFB, slaveMask: UInt8 = 0xFF, requests: Counter? = nil) -> DualPIC {
        let pic = DualPIC { requests?.add() }
        for (offset, value) in [(0, 0x11), (1, 0x30), (1, 0x04), (1, 0x01), (0x80, 0x11), (0x81, 0x38), (0x81, 0x02), (0x81, 0x01)] {
            pic.write(offset: UInt64(offset), size: 1, value: UInt64(value))
        }
        pic.write(offset: 1, size: 1, value: UInt64(masterMask))
        pic.write(offset: 0x81, size: 1, value: UInt64(slaveMask))
        return pic
    }

    final class Counter: Sendable {
        let value = Mutex(0)
        func add() { value.withLock { $0 += 1 } }
    }

    @Test func anUnmaskedEdgeIsDeliveredOnceWithItsVector() throws {
        let requests = Counter()
        let pic = programmed(masterMask: 0xFE, requests: requests)
        #expect(!pic.pendingInterrupt)
        try pic.line(0).pulse()
        #expect(pic.pendingInterrupt)
        #expect(requests.value.withLock { $0 } == 1)
        #expect(pic.acknowledge() == 0x30)
        #expect(!pic.pendingInterrupt, "in service now, and the edge was consumed")
        pic.write(offset: 0, size: 1, value: 0x0B)      // OCW3: read ISR
        #expect(pic.read(offset: 0, size: 1) == 0x01)
        pic.write(offset: 0, size: 1, value: 0x20)      // non-specific EOI
        #expect(pic.read(offset: 0, size: 1) == 0x00)
    }

    @Test func masksHoldRequestsUntilUnmasked() throws {
        let pic = programmed(masterMask: 0xFF)
        try pic.line(1).pulse()
        #expect(!pic.pendingInterrupt)
        #expect(pic.read(offset: 1, size: 1) == 0xFF)
        pic.write(offset: 1, size: 1, value: 0xFD)
        #expect(pic.acknowledge() == 0x31)
    }

    @Test func slaveInterruptsCascadeThroughIRQ2() throws {
        let pic = programmed(masterMask: 0xFB, slaveMask: 0xEF)   // slave input 4 = IRQ 12
        try pic.line(12).pulse()
        #expect(pic.pendingInterrupt)
        #expect(pic.acknowledge() == 0x3C)
        // Both chips have it in service until both get an EOI, slave first.
        pic.write(offset: 0x80, size: 1, value: 0x20)
        pic.write(offset: 0, size: 1, value: 0x0B)
        #expect(pic.read(offset: 0, size: 1) == 0x04)
        pic.write(offset: 0, size: 1, value: 0x20)
        #expect(pic.read(offset: 0, size: 1) == 0x00)
    }

    @Test func higherPriorityNestsAndLowerWaits() throws {
        let pic = programmed(masterMask: 0x00)
        try pic.line(3).pulse()
        #expect(pic.acknowledge() == 0x33)
        try pic.line(4).pulse()
        #expect(!pic.pendingInterrupt, "IRQ 4 waits behind IRQ 3 in service")
        try pic.line(1).pulse()
        #expect(pic.acknowledge() == 0x31, "IRQ 1 preempts")
        pic.write(offset: 0, size: 1, value: 0x20)      // ends IRQ 1
        pic.write(offset: 0, size: 1, value: 0x20)      // ends IRQ 3
        #expect(pic.acknowledge() == 0x34)
    }

    @Test func levelInputsRequestWhileHighOnly() throws {
        let pic = programmed(masterMask: 0x00)
        pic.elcr = (master: 0x20, slave: 0)             // IRQ 5 level-triggered
        let line = try pic.line(5)
        line.setLevel(true)
        #expect(pic.acknowledge() == 0x35)
        pic.write(offset: 0, size: 1, value: 0x20)
        #expect(pic.pendingInterrupt, "still high: requests again after EOI")
        line.setLevel(false)
        #expect(!pic.pendingInterrupt)
    }

    @Test func autoEOIAndSpecificRotation() throws {
        let pic = DualPIC()
        for (offset, value) in [(0, 0x11), (1, 0x08), (1, 0x04), (1, 0x03), (1, 0x00)] {   // ICW4 with AEOI
            pic.write(offset: UInt64(offset), size: 1, value: UInt64(value))
        }
        try pic.line(6).pulse()
        #expect(pic.acknowledge() == 0x0E)
        pic.write(offset: 0, size: 1, value: 0x0B)
        #expect(pic.read(offset: 0, size: 1) == 0, "auto-EOI leaves nothing in service")
        pic.write(offset: 0, size: 1, value: 0xC0 | 4)   // set priority: IRQ 4 lowest, so IRQ 5 is highest
        try pic.line(0).pulse()
        try pic.line(5).pulse()
        #expect(pic.acknowledge() == 0x0D)
    }

    @Test func pollModeAcknowledgesThroughARead() throws {
        let pic = programmed(masterMask: 0x00)
        try pic.line(7).pulse()
        pic.write(offset: 0, size: 1, value: 0x0C)       // OCW3 poll
        #expect(pic.read(offset: 0, size: 1) == 0x87)
        pic.write(offset: 0, size: 1, value: 0x0C)
        #expect(pic.read(offset: 0, size: 1) == 0x00, "nothing pending")
    }

    @Test func stateRoundTripsAndBadStateIsRefused() throws {
        let pic = programmed(masterMask: 0x00)
        try pic.line(3).pulse()
        let saved = pic.saveState()
        let copy = DualPIC()
        try copy.restoreState(saved)
        #expect(copy.acknowledge() == 0x33)
        var bad = saved
        bad.master.lowestPriority = 9
        #expect(throws: DeviceStateError.self) { try copy.restoreState(bad) }
    }

    @Test func hostileWritesNeverTrapTheController() throws {
        let pic = DualPIC()
        var seed: UInt64 = 0x1234_5678
        for _ in 0..<20_000 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let offset: UInt64 = [0, 1, 0x80, 0x81][Int(seed >> 62)]
            if seed & 0x100 == 0 {
                pic.write(offset: offset, size: 1, value: seed >> 24)
            } else {
                _ = pic.read(offset: offset, size: 1)
            }
            if seed & 0x3000 == 0 { try pic.line(Int(seed >> 40) & 15).setLevel(seed & 0x4000 != 0) }
            if seed & 0x7000 == 0x7000 { _ = pic.acknowledge() }
        }
        #expect(pic.saveState().master.lowestPriority <= 7)
    }
}
