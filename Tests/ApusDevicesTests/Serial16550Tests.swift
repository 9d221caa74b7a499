import ApusCore
import ApusDevices
import ApusTesting
import Testing

@Suite struct Serial16550Tests {
    let line = RecordingInterruptLine()
    let output = CapturingSerialOutput()

    func makeUART() -> Serial16550 { Serial16550(interrupt: line, output: output) }

    @Test func scratchRegisterRoundTrips() {
        let uart = makeUART()
        for value in [UInt64(0x00), 0x55, 0xAA, 0xFF] {
            uart.write(offset: 7, size: 1, value: value)
            #expect(uart.read(offset: 7, size: 1) == value)
        }
    }

    @Test func divisorLatchSharesOffsetsZeroAndOne() {
        let uart = makeUART()
        uart.write(offset: 3, size: 1, value: 0x80)      // DLAB
        uart.write(offset: 0, size: 1, value: 0x01)
        uart.write(offset: 1, size: 1, value: 0x02)
        #expect(uart.read(offset: 0, size: 1) == 0x01)
        #expect(uart.read(offset: 1, size: 1) == 0x02)
        uart.write(offset: 3, size: 1, value: 0x03)      // DLAB off, 8N1
        #expect(uart.read(offset: 1, size: 1) == 0)      // IER, untouched
        uart.write(offset: 0, size: 1, value: UInt64(UInt8(ascii: "A")))
        #expect(output.text == "A")
    }

    @Test func transmitEmptyInterruptFollowsTheDatasheet() {
        let uart = makeUART()
        uart.write(offset: 4, size: 1, value: 0x08)      // OUT2: let the PC see interrupts
        #expect(uart.read(offset: 2, size: 1) == 0x01)   // nothing pending
        uart.write(offset: 1, size: 1, value: 0x02)      // enable THR empty: raised at once
        #expect(line.isAsserted)
        #expect(uart.read(offset: 2, size: 1) == 0x02)   // reading IIR acknowledges it
        #expect(!line.isAsserted)
        #expect(uart.read(offset: 2, size: 1) == 0x01)
        uart.write(offset: 0, size: 1, value: 0x41)      // a write empties THR again: raised again
        #expect(line.isAsserted)
    }

    @Test func receivedDataInterruptClearsWhenTheFIFOIsRead() {
        let uart = makeUART()
        uart.write(offset: 4, size: 1, value: 0x08)
        uart.write(offset: 1, size: 1, value: 0x01)
        #expect(uart.receive([0x31, 0x32]) == 1)         // no FIFO yet: a one-byte holding register
        #expect(line.isAsserted)
        #expect(uart.read(offset: 5, size: 1) & 0x01 == 0x01)
        #expect(uart.read(offset: 2, size: 1) & 0x0F == 0x04)
        #expect(uart.read(offset: 0, size: 1) == 0x31)
        #expect(!line.isAsserted)
        #expect(uart.read(offset: 5, size: 1) & 0x01 == 0)
    }

    @Test func fifoKeepsOrderHoldsSixteenAndReportsItself() {
        let uart = makeUART()
        uart.write(offset: 2, size: 1, value: 0x07)      // enable and clear FIFOs
        #expect(uart.read(offset: 2, size: 1) & 0xC0 == 0xC0)
        let bytes = (0..<20).map { UInt8($0) }
        #expect(uart.receive(bytes) == 16)
        for expected in 0..<16 { #expect(uart.read(offset: 0, size: 1) == UInt64(expected)) }
        #expect(uart.read(offset: 5, size: 1) & 0x01 == 0)
    }

    @Test func loopbackOverrunSetsOEAndCounts() {
        let uart = makeUART()
        uart.write(offset: 4, size: 1, value: 0x10)      // loopback
        uart.write(offset: 0, size: 1, value: 0x61)
        uart.write(offset: 0, size: 1, value: 0x62)      // holding register full: overrun
        #expect(output.text.isEmpty)
        let status = uart.read(offset: 5, size: 1)
        #expect(status & 0x02 == 0x02 && status & 0x01 == 0x01)
        #expect(uart.read(offset: 5, size: 1) & 0x02 == 0)  // OE clears when read
        #expect(uart.overrunCount == 1)
        #expect(uart.read(offset: 0, size: 1) == 0x61)
        #expect(uart.receive([1]) == 0)                  // the serial input is disconnected in loopback
    }

    @Test func loopbackMirrorsModemControlInModemStatus() {
        let uart = makeUART()
        uart.write(offset: 4, size: 1, value: 0x10 | 0x0F)  // loop + DTR RTS OUT1 OUT2
        #expect(uart.read(offset: 6, size: 1) & 0xF0 == 0xF0)
        uart.write(offset: 4, size: 1, value: 0x10)
        #expect(uart.read(offset: 6, size: 1) & 0xF0 == 0)
        #expect(!line.isAsserted)                        // never interrupts the PC in loopback
    }

    @Test func out2GatesTheInterruptLine() {
        let uart = makeUART()
        uart.write(offset: 1, size: 1, value: 0x02)
        #expect(!line.isAsserted)
        uart.write(offset: 4, size: 1, value: 0x08)
        #expect(line.isAsserted)
        uart.write(offset: 4, size: 1, value: 0x00)
        #expect(!line.isAsserted)
    }

    @Test func savedStateResumesExactly() throws {
        let uart = makeUART()
        uart.write(offset: 2, size: 1, value: 0x01)
        uart.write(offset: 7, size: 1, value: 0x5A)
        uart.receive([1, 2, 3])
        let restored = makeUART()
        try restored.restoreState(uart.saveState())
        #expect(restored.saveState() == uart.saveState())
        #expect(restored.read(offset: 7, size: 1) == 0x5A)
        #expect([restored.read(offset: 0, size: 1), restored.read(offset: 0, size: 1)] == [1, 2])
    }

    @Test func restoreRejectsAnOversizedFIFOAndKeepsTheDevice() {
        let uart = makeUART()
        uart.write(offset: 7, size: 1, value: 0x11)
        var bad = uart.saveState()
        bad.receiveFIFO = [UInt8](repeating: 0, count: 17)
        bad.scratch = 0x99
        #expect(throws: DeviceStateError.self) { try uart.restoreState(bad) }
        #expect(uart.read(offset: 7, size: 1) == 0x11)
    }

    @Test func hostileAccessesNeverBreakInvariants() {
        var generator = SplitMix64(seed: 0xA9_05)
        let uart = makeUART()
        for _ in 0..<100_000 {
            let offset = generator.next() % 12
            let size = [1, 2, 4, 8][Int(generator.next() % 4)]
            if generator.next() % 2 == 0 {
                uart.write(offset: offset, size: size, value: generator.next())
            } else {
                _ = uart.read(offset: offset, size: size)
            }
            if generator.next() % 16 == 0 { uart.receive([UInt8(truncatingIfNeeded: generator.next())]) }
            #expect(uart.saveState().receiveFIFO.count <= Serial16550.fifoCapacity)
        }
        #expect(uart.read(offset: 9, size: 1) == 0xFF)
    }
}
