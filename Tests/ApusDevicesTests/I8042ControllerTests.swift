import ApusCore
import ApusDevices
import Synchronization
import Testing

/// The 8042 as Linux drives it without a keyboard: status, command byte, self test, and the reset line.
@Suite struct I8042ControllerTests {
    final class ResetCounter: Sendable {
        let count = Mutex(0)
        func reset() { count.withLock { $0 += 1 } }
        var value: Int { count.withLock { $0 } }
    }

    @Test func commandFEPulsesTheResetLine() {
        let counter = ResetCounter()
        let controller = I8042Controller { counter.reset() }
        let command = controller.commandPort
        #expect(command.read(offset: 0, size: 1) & 0x02 == 0, "the input buffer is never busy, so kb_wait never spins")
        command.write(offset: 0, size: 1, value: 0xFE)
        #expect(counter.value == 1)
        command.write(offset: 0, size: 1, value: 0xFF)   // pulses no line: no reset
        #expect(counter.value == 1)
    }

    @Test func outputPortWriteWithBitZeroClearResets() {
        let counter = ResetCounter()
        let controller = I8042Controller { counter.reset() }
        controller.commandPort.write(offset: 0, size: 1, value: 0xD1)
        controller.write(offset: 0, size: 1, value: 0x03)
        #expect(counter.value == 0, "bit 0 set keeps the CPU running")
        controller.commandPort.write(offset: 0, size: 1, value: 0xD1)
        controller.write(offset: 0, size: 1, value: 0x02)
        #expect(counter.value == 1)
    }

    @Test func commandByteAndSelfTestAnswerThroughTheOutputBuffer() {
        let controller = I8042Controller {}
        let command = controller.commandPort
        command.write(offset: 0, size: 1, value: 0x60)
        controller.write(offset: 0, size: 1, value: 0x61)
        command.write(offset: 0, size: 1, value: 0x20)
        #expect(command.read(offset: 0, size: 1) & 0x01 == 1, "output buffer full")
        #expect(controller.read(offset: 0, size: 1) == 0x61)
        #expect(command.read(offset: 0, size: 1) & 0x01 == 0, "reading the data port empties it")
        command.write(offset: 0, size: 1, value: 0xAA)
        #expect(controller.read(offset: 0, size: 1) == 0x55)
        #expect(command.read(offset: 0, size: 1) & 0x04 != 0, "the self test sets the system flag")
    }

    @Test func stateRoundTrips() throws {
        let controller = I8042Controller {}
        controller.commandPort.write(offset: 0, size: 1, value: 0x20)
        let saved = controller.saveState()
        let other = I8042Controller {}
        try other.restoreState(saved)
        #expect(other.read(offset: 0, size: 1) == 0x45)
    }
}
