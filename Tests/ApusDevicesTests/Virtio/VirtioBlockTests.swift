import ApusCore
import ApusDevices
import ApusDisk
import ApusTesting
import Foundation
import Synchronization
import Testing

/// Log lines a device wrote.
final class LineRecorder: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// virtio-blk through the modern PCI transport, driven by the driver-side double like a guest would.
@Suite struct VirtioBlockTests {
    static let header: UInt64 = 0x40000
    static let data: UInt64 = 0x50000
    static let status: UInt64 = 0x60000

    final class Fixture {
        let directory: String
        let memory: GuestMemory
        let bus: PCIBus
        let intx: RecordingInterruptLine
        let msi: RecordingMSISink
        let logLines: LineRecorder
        let disk: any DiskImage
        let function: VirtioPCIFunction
        let driver: VirtioPCITestDriver

        /// `parent` is where the disk image lives (the system's temporary directory by default).
        init(readOnly: Bool = false, qcow2: Bool = false, parent: String = NSTemporaryDirectory()) throws {
            directory = parent + "/apus-blk-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let path = directory + (qcow2 ? "/disk.qcow2" : "/disk.raw")
            if qcow2 {
                _ = try Qcow2Image.create(path: path, size: 4 << 20)
            } else {
                _ = try RawImage.create(path: path, size: 4 << 20)
            }
            let disk = try DiskImages.open(path: path, readOnly: readOnly)
            let memory = try GuestMemory(size: 8 << 20)
            let bus = PCIBus()
            let intx = RecordingInterruptLine()
            let msi = RecordingMSISink()
            let recorder = LineRecorder()
            let function = VirtioPCIFunction(model: VirtioBlock(disk: disk, serial: "apus-disk-0"), memory: memory,
                                             interrupts: PCIInterruptOut(intx: intx, msi: msi), name: "virtio-blk",
                                             log: { line in recorder.append(line) })
            let device = try bus.plug(function)
            driver = VirtioPCITestDriver(bus: bus, device: device, memory: memory)
            self.disk = disk
            self.memory = memory
            self.bus = bus
            self.intx = intx
            self.msi = msi
            self.logLines = recorder
            self.function = function
        }

        deinit { try? FileManager.default.removeItem(atPath: directory) }

        /// Posts one request (header, optional data, status byte) and notifies; returns the status byte and used length.
        @discardableResult
        func request(type: UInt32, sector: UInt64, dataLength: Int = 0, deviceWrites: Bool = false,
                     payload: [UInt8]? = nil) throws -> (status: UInt8, used: UInt32?) {
            var header = [UInt8](repeating: 0, count: 16)
            for i in 0..<4 { header[i] = UInt8(truncatingIfNeeded: type >> (8 * UInt32(i))) }
            for i in 0..<8 { header[8 + i] = UInt8(truncatingIfNeeded: sector >> (8 * UInt64(i))) }
            try memory.write(header, at: GuestAddress(VirtioBlockTests.header))
            if let payload { try memory.write(payload, at: GuestAddress(VirtioBlockTests.data)) }
            try memory.write([UInt8(0xEE)], at: GuestAddress(VirtioBlockTests.status))
            var buffers: [VirtqueueDriver.Buffer] = [.readable(VirtioBlockTests.header, 16)]
            if dataLength > 0 {
                buffers.append(deviceWrites ? .writable(VirtioBlockTests.data, UInt32(dataLength))
                                            : .readable(VirtioBlockTests.data, UInt32(dataLength)))
            }
            buffers.append(.writable(VirtioBlockTests.status, 1))
            try driver.queue.post(buffers)
            driver.notify()
            let used = try driver.queue.takeUsed()
            return (try memory.read(UInt8.self, at: GuestAddress(VirtioBlockTests.status)), used.first?.length)
        }
    }

    @Test func itIdentifiesAsAModernVirtioBlockDevice() throws {
        let fixture = try Fixture()
        let driver = fixture.driver
        #expect(driver.configRead(0) == 0x1042_1AF4)
        #expect(driver.configRead(0x08) >> 8 == 0x01_8000)
        #expect(driver.configRead(0x08) & 0xFF == 1, "revision 1: modern only")
        driver.probe()
        #expect(Set(driver.structures.keys) == [1, 2, 3, 4, 5], "common, notify, ISR, device, PCI configuration window")
        let accepted = try driver.initialise(features: ~0)
        #expect(accepted & VirtioFeature.version1 != 0)
        #expect(accepted & VirtioBlock.Feature.flush != 0 && accepted & VirtioBlock.Feature.discard != 0)
        #expect(driver.deviceConfig(0, size: 8) == (4 << 20) / 512, "capacity in sectors")
        #expect(driver.deviceConfig(20, size: 4) == 512)
        #expect(driver.status == VirtioStatus.acknowledge | VirtioStatus.driver | VirtioStatus.featuresOK
                | VirtioStatus.driverOK)
    }

    @Test func thePCIConfigurationWindowReachesTheBars() throws {
        let fixture = try Fixture()
        let driver = fixture.driver
        var pointer = Int(driver.configRead(0x34, size: 1))
        var window: Int?
        while pointer != 0 {
            if driver.configRead(pointer, size: 1) == 0x09, driver.configRead(pointer + 3, size: 1) == 5 { window = pointer }
            pointer = Int(driver.configRead(pointer + 1, size: 1))
        }
        let cap = try #require(window, "VIRTIO_PCI_CAP_PCI_CFG is present")
        // Without placing any BAR: device_feature_select = 1, then device_feature reads the high half.
        driver.configWrite(cap + 4, 4, size: 1)
        driver.configWrite(cap + 8, 0x00)
        driver.configWrite(cap + 12, 4)
        driver.configWrite(cap + 16, 1)
        driver.configWrite(cap + 8, 0x04)
        #expect(driver.configRead(cap + 16) & 1 == 1, "VIRTIO_F_VERSION_1 is bit 32")
        driver.configWrite(cap + 12, 3)
        #expect(driver.configRead(cap + 16) == 1, "an odd length is ignored; the data field keeps its value")
    }

    @Test func featuresWithoutVersion1AreRefused() throws {
        let fixture = try Fixture()
        let driver = fixture.driver
        driver.probe()
        driver.setCommon(0x14, UInt64(VirtioStatus.acknowledge | VirtioStatus.driver), size: 1)
        driver.setCommon(0x08, 0, size: 4)
        driver.setCommon(0x0C, VirtioBlock.Feature.flush, size: 4)
        driver.setCommon(0x14, UInt64(VirtioStatus.acknowledge | VirtioStatus.driver | VirtioStatus.featuresOK), size: 1)
        #expect(driver.status & VirtioStatus.featuresOK == 0, "a legacy-only driver is refused")
    }

    @Test(arguments: [false, true])
    func writesReadBackAndReachTheDisk(qcow2: Bool) throws {
        let fixture = try Fixture(qcow2: qcow2)
        _ = try fixture.driver.initialise(features: ~0)
        let payload = (0..<8192).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        let write = try fixture.request(type: VirtioBlock.RequestType.write, sector: 100, dataLength: 8192,
                                        payload: payload)
        #expect(write.status == VirtioBlock.Status.ok && write.used == 1)
        try fixture.memory.fill(0, at: GuestAddress(Self.data), count: 8192)
        let read = try fixture.request(type: VirtioBlock.RequestType.read, sector: 100, dataLength: 8192,
                                       deviceWrites: true)
        #expect(read.status == VirtioBlock.Status.ok && read.used == 8193)
        #expect(try fixture.memory.readBytes(at: GuestAddress(Self.data), count: 8192) == payload)
        #expect(try fixture.disk.readBytes(at: 100 * 512, count: 8192) == payload)
        #expect(try fixture.request(type: VirtioBlock.RequestType.flush, sector: 0).status == VirtioBlock.Status.ok)
    }

    @Test func getIDDiscardAndOutOfRangeRequests() throws {
        let fixture = try Fixture(qcow2: true)
        _ = try fixture.driver.initialise(features: ~0)
        let id = try fixture.request(type: VirtioBlock.RequestType.getID, sector: 0, dataLength: 20, deviceWrites: true)
        #expect(id.status == VirtioBlock.Status.ok && id.used == 21)
        let serial = try fixture.memory.readBytes(at: GuestAddress(Self.data), count: 20)
        #expect(serial == Array("apus-disk-0".utf8) + [UInt8](repeating: 0, count: 9))

        let ones = [UInt8](repeating: 0xFF, count: 65536)
        #expect(try fixture.request(type: VirtioBlock.RequestType.write, sector: 128, dataLength: 65536,
                                    payload: ones).status == VirtioBlock.Status.ok)
        var segment = [UInt8](repeating: 0, count: 16)
        segment[0] = 128
        segment[8] = 0x80  // num_sectors: 128
        #expect(try fixture.request(type: VirtioBlock.RequestType.discard, sector: 0, dataLength: 16,
                                    payload: segment).status == VirtioBlock.Status.ok)
        #expect(try fixture.disk.readBytes(at: 128 * 512, count: 65536) == [UInt8](repeating: 0, count: 65536))

        let last = (4 << 20) / 512 - 1
        #expect(try fixture.request(type: VirtioBlock.RequestType.read, sector: UInt64(last), dataLength: 1024,
                                    deviceWrites: true).status == VirtioBlock.Status.ioError, "runs past the end")
        #expect(try fixture.request(type: VirtioBlock.RequestType.read, sector: UInt64.max / 256, dataLength: 512,
                                    deviceWrites: true).status == VirtioBlock.Status.ioError)
        #expect(try fixture.request(type: VirtioBlock.RequestType.read, sector: 0, dataLength: 100,
                                    deviceWrites: true).status == VirtioBlock.Status.ioError, "not whole sectors")
        #expect(try fixture.request(type: 99, sector: 0).status == VirtioBlock.Status.unsupported)
        #expect(fixture.driver.status & VirtioStatus.needsReset == 0, "errors in requests are not driver errors")
    }

    @Test func aReadOnlyDiskRefusesWritesAndSaysSo() throws {
        let fixture = try Fixture(readOnly: true)
        let accepted = try fixture.driver.initialise(features: ~0)
        #expect(accepted & VirtioBlock.Feature.readOnly != 0)
        #expect(accepted & VirtioBlock.Feature.discard == 0)
        #expect(try fixture.request(type: VirtioBlock.RequestType.write, sector: 0, dataLength: 512,
                                    payload: [UInt8](repeating: 1, count: 512)).status == VirtioBlock.Status.ioError)
        #expect(try fixture.disk.readBytes(at: 0, count: 512) == [UInt8](repeating: 0, count: 512))
        #expect(try fixture.request(type: VirtioBlock.RequestType.read, sector: 0, dataLength: 512,
                                    deviceWrites: true).status == VirtioBlock.Status.ok)
    }

    @Test func completionsRaiseINTxUntilTheISRIsRead() throws {
        let fixture = try Fixture()
        _ = try fixture.driver.initialise(features: VirtioFeature.version1)
        try fixture.request(type: VirtioBlock.RequestType.flush, sector: 0)
        #expect(fixture.intx.isAsserted)
        #expect(fixture.driver.configRead(0x06, size: 2) & 0x08 != 0, "status: interrupt pending")
        #expect(fixture.driver.readISR() == 1)
        #expect(!fixture.intx.isAsserted)
        #expect(fixture.driver.readISR() == 0, "reading the ISR clears it")
        // INTx disable in the command register keeps the pin low.
        fixture.driver.configWrite(0x04, 0x6 | 0x400, size: 2)
        try fixture.request(type: VirtioBlock.RequestType.flush, sector: 0)
        #expect(!fixture.intx.isAsserted)
        #expect(fixture.driver.readISR() == 1)
    }

    @Test func completionsUseTheQueuesMSIXVector() throws {
        let fixture = try Fixture()
        let driver = fixture.driver
        driver.probe()
        // Enable MSI-X, program vector 1, unmask it.
        var pointer = Int(driver.configRead(0x34, size: 1))
        while driver.configRead(pointer, size: 1) != 0x11 { pointer = Int(driver.configRead(pointer + 1, size: 1)) }
        driver.configWrite(pointer + 2, 0x8000, size: 2)
        let entry = VirtioPCITestDriver.msixBarAddress + 16
        fixture.bus.windowWrite(io: false, address: entry, size: 4, value: 0xFEE0_1000)
        fixture.bus.windowWrite(io: false, address: entry + 8, size: 4, value: 0x31)
        fixture.bus.windowWrite(io: false, address: entry + 12, size: 4, value: 0)
        _ = try driver.initialise(features: VirtioFeature.version1)
        driver.setCommon(0x16, 0, size: 2)
        driver.setCommon(0x1A, 1, size: 2)
        #expect(driver.common(0x1A, size: 2) == 1)
        driver.setCommon(0x1A, 9, size: 2)
        #expect(driver.common(0x1A, size: 2) == 0xFFFF, "a vector beyond the table reads NO_VECTOR")
        driver.setCommon(0x1A, 1, size: 2)
        try fixture.request(type: VirtioBlock.RequestType.flush, sector: 0)
        #expect(fixture.msi.delivered.count == 1)
        #expect(fixture.msi.delivered.first.map { $0.address == 0xFEE0_1000 && $0.data == 0x31 } == true)
        #expect(!fixture.intx.isAsserted)
    }

    @Test func aHostileChainNeedsResetAndResetRecovers() throws {
        let fixture = try Fixture()
        _ = try fixture.driver.initialise(features: VirtioFeature.version1)
        // A loop in the descriptor table.
        try fixture.driver.queue.writeDescriptor(index: 0, address: Self.header, length: 16, flags: 1, next: 1)
        try fixture.driver.queue.writeDescriptor(index: 1, address: Self.header, length: 16, flags: 1, next: 0)
        try fixture.driver.queue.publish(head: 0)
        fixture.driver.notify()
        #expect(fixture.driver.status & VirtioStatus.needsReset != 0)
        #expect(fixture.logLines.all.count == 1)
        #expect(fixture.logLines.all.first?.contains("longer than 64") == true)
        #expect(fixture.driver.readISR() == 2, "a configuration-change interrupt")
        // Further notifications are ignored until the driver resets.
        fixture.driver.notify()
        #expect(fixture.logLines.all.count == 1, "one log line")
        _ = try fixture.driver.initialise(features: VirtioFeature.version1)
        #expect(fixture.driver.status & VirtioStatus.needsReset == 0)
        #expect(try fixture.request(type: VirtioBlock.RequestType.flush, sector: 0).status == VirtioBlock.Status.ok)
    }

    @Test func aRequestWithoutAStatusByteIsADriverError() throws {
        let fixture = try Fixture()
        _ = try fixture.driver.initialise(features: VirtioFeature.version1)
        try fixture.driver.queue.post([.readable(Self.header, 16)])
        fixture.driver.notify()
        #expect(fixture.driver.status & VirtioStatus.needsReset != 0)
    }

    @Test func stateSurvivesSaveAndRestore() throws {
        let fixture = try Fixture()
        _ = try fixture.driver.initialise(features: VirtioFeature.version1)
        try fixture.request(type: VirtioBlock.RequestType.flush, sector: 0)
        let saved = fixture.function.saveState()
        let other = try Fixture()
        try other.function.restoreState(saved)
        #expect(other.function.saveState() == saved)
    }
}
