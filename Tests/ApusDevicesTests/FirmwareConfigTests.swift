import ApusDevices
import Testing

/// QEMU's fw_cfg as a state machine: the selector picks an item, data reads walk it, and the file directory lists
/// the same facts under names.
@Suite struct FirmwareConfigTests {
    static func device() -> FirmwareConfig {
        FirmwareConfig(items: FirmwareConfigItems(ramSize: 256 << 20, cpuCount: 4, commandLine: "quiet",
                                                  memoryMap: [(0, 0x9FC00, 1), (0x100000, 0xFF0_0000, 1)]))
    }

    func read(_ device: FirmwareConfig, selector: UInt16, count: Int) -> [UInt8] {
        device.write(offset: FirmwareConfig.Register.selector, size: 2, value: UInt64(selector))
        return (0..<count).map { _ in UInt8(device.read(offset: FirmwareConfig.Register.data, size: 1)) }
    }

    @Test func legacyItemsHoldTheSignatureRAMSizeAndCPUCount() {
        let device = Self.device()
        #expect(read(device, selector: 0, count: 4) == Array("QEMU".utf8))
        #expect(read(device, selector: 1, count: 4) == [1, 0, 0, 0], "traditional interface, no DMA")
        #expect(read(device, selector: 3, count: 8) == [0, 0, 0, 0x10, 0, 0, 0, 0])
        #expect(read(device, selector: 5, count: 2) == [4, 0])
        #expect(read(device, selector: 0x14, count: 4) == [6, 0, 0, 0])
        #expect(read(device, selector: 0x15, count: 6) == Array("quiet".utf8) + [0])
    }

    @Test func readsPastTheEndAndOfUnknownItemsGiveZeroAndASelectRestarts() {
        let device = Self.device()
        #expect(read(device, selector: 5, count: 4) == [4, 0, 0, 0])
        #expect(read(device, selector: 0x7FFF, count: 3) == [0, 0, 0])
        device.write(offset: FirmwareConfig.Register.selector, size: 2, value: 0)
        #expect(device.read(offset: FirmwareConfig.Register.data, size: 4) == 0x554D_4551, "QEMU, least significant first")
        #expect(device.read(offset: FirmwareConfig.Register.data, size: 1) == 0)
        // Writes to the data port change nothing; the selector port reads as zero.
        device.write(offset: FirmwareConfig.Register.data, size: 1, value: 0x41)
        #expect(read(device, selector: 0, count: 1) == [0x51])
        #expect(device.read(offset: FirmwareConfig.Register.selector, size: 2) == 0)
    }

    @Test func theFileDirectoryListsEachFileSortedByName() {
        let device = Self.device()
        let directory = read(device, selector: 0x19, count: 4 + 4 * 64)
        #expect(directory.prefix(4) == [0, 0, 0, 4])
        var names: [String] = []
        for index in 0..<4 {
            let entry = Array(directory[(4 + 64 * index)..<(4 + 64 * (index + 1))])
            let size = entry[0..<4].reduce(0) { $0 << 8 | Int($1) }
            let selector = UInt16(entry[4]) << 8 | UInt16(entry[5])
            let name = String(decoding: entry[8...].prefix { $0 != 0 }, as: UTF8.self)
            names.append(name)
            #expect(read(device, selector: selector, count: size + 1).last == 0, "\(name): \(size) bytes, then zero")
            if name == "etc/e820" {
                #expect(size == 40)
                #expect(read(device, selector: selector, count: 20) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFC, 9, 0, 0, 0, 0, 0, 1, 0, 0, 0])
            }
            if name == "opt/org.apus/cpu-count" { #expect(read(device, selector: selector, count: 2) == [4, 0]) }
        }
        #expect(names == ["etc/e820", "opt/org.apus/cmdline", "opt/org.apus/cpu-count", "opt/org.apus/ram-size"])
    }

    @Test func stateRoundTripsAndABadOffsetIsRefused() throws {
        let device = Self.device()
        _ = read(device, selector: 0, count: 2)
        let saved = device.saveState()
        let other = FirmwareConfig(items: FirmwareConfigItems(ramSize: 0, cpuCount: 1, commandLine: "", memoryMap: []))
        try other.restoreState(saved)
        #expect(other.read(offset: FirmwareConfig.Register.data, size: 2) == 0x554D, "continues at byte 2: 'MU'")
        var broken = saved
        broken.offset = -1
        #expect(throws: (any Error).self) { try other.restoreState(broken) }
    }
}
