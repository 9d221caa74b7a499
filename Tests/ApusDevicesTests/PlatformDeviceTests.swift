import ApusDevices
import Synchronization
import Testing

@Suite struct PlatformDeviceTests {
    @Test func debugExitReportsEveryWidth() throws {
        let codes = Mutex<[UInt32]>([])
        let device = DebugExitDevice { code in codes.withLock { $0.append(code) } }
        device.write(offset: 0, size: 1, value: 0x7)
        device.write(offset: 0, size: 4, value: 0x1_0000_0003)
        #expect(codes.withLock { $0 } == [7, 3])
        #expect(device.resultCode == 3)
        #expect(device.read(offset: 0, size: 4) == 0)
        let copy = DebugExitDevice { _ in }
        try copy.restoreState(device.saveState())
        #expect(copy.resultCode == 3)
    }

    @Test func postCodeLatchesTheLastByte() throws {
        let port = PostCodePort()
        port.write(offset: 0, size: 1, value: 0x1AB)
        #expect(port.lastCode == 0xAB)
        #expect(port.read(offset: 0, size: 1) == 0xAB)
        let copy = PostCodePort()
        try copy.restoreState(port.saveState())
        #expect(copy.lastCode == 0xAB)
    }

    @Test func capturingOutputKeepsInvalidUTF8Readable() {
        let output = CapturingSerialOutput()
        for byte in [0x68, 0xFF, 0x69] as [UInt8] { output.transmit(byte) }
        #expect(output.data == [0x68, 0xFF, 0x69])
        #expect(output.text == "h\u{FFFD}i")
    }
}
