import ApusCore
import ApusDevices
import ApusDisk
@testable import ApusVMM
import Foundation
import Testing

/// PCI bus 0 as a built machine has it: the virtio-blk functions answer through the 0xCF8 ports and through ECAM at
/// the MCFG's address, and a guest's BAR placed in the memory window reaches the function's registers.
@Suite struct PCIPlatformTests {
    func machineParts(disks: Int) throws -> (MachineParts, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apus-pci-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var attachments: [DiskAttachment] = []
        for index in 0..<disks {
            let path = directory.appendingPathComponent("disk\(index).raw").path
            _ = try RawImage.create(path: path, size: 1 << 20)
            attachments.append(DiskAttachment(path: path, readOnly: index % 2 == 1))
        }
        let platform = MachinePlatform(memoryMiB: 16, vcpuCount: 1, backend: .soft, unmappedAccess: .ignore,
                                       interruptController: .full, disks: attachments)
        let control = RunControl()
        let (parts, _) = try MachineParts.build(platform: platform, hypervisor: try BackendChoice.soft.resolve().hypervisor,
                                                output: Discard(), control: control, commandLine: "") { _ in () }
        return (parts, directory)
    }

    func port(_ parts: MachineParts, _ address: UInt64, write value: UInt64? = nil, size: Int = 4) -> UInt64 {
        bus(parts.dispatcher.portBus, address, write: value, size: size)
    }

    func mmio(_ parts: MachineParts, _ address: UInt64, write value: UInt64? = nil, size: Int = 4) -> UInt64 {
        bus(parts.dispatcher.mmioBus, address, write: value, size: size)
    }

    private func bus(_ bus: IOBus, _ address: UInt64, write value: UInt64?, size: Int) -> UInt64 {
        guard let (slot, offset) = bus.resolve(address) else { return .max }
        return slot.withDevice { device in
            if let value {
                device.write(offset: offset, size: size, value: value)
                return 0
            }
            return device.read(offset: offset, size: size)
        }
    }

    @Test func virtioBlockFunctionsAnswerThroughPortsAndECAM() throws {
        let (parts, directory) = try machineParts(disks: 5)
        defer { try? FileManager.default.removeItem(at: directory) }
        for device in 1...5 {
            _ = port(parts, 0xCF8, write: 0x8000_0000 | UInt64(device) << 11)
            #expect(port(parts, 0xCFC) == 0x1042_1AF4, "device \(device) by mechanism 1")
            #expect(mmio(parts, PlatformLayout.pciECAMAddress + UInt64(device) << 15) == 0x1042_1AF4,
                    "device \(device) by ECAM")
            // Interrupt pin INTA#.
            #expect(mmio(parts, PlatformLayout.pciECAMAddress + UInt64(device) << 15 + 0x3D, size: 1) == 1)
        }
        #expect(mmio(parts, PlatformLayout.pciECAMAddress + 6 << 15) == 0xFFFF_FFFF, "slot 6 is empty")
        _ = port(parts, 0xCF8, write: 0x8000_0000)
        #expect(port(parts, 0xCFC) == 0x0008_1B36, "the host bridge at 00:00.0")
        #expect(parts.pci?.disks.map(\.block.disk.isReadOnly) == [false, true, false, true, false])
    }

    @Test func aBARPlacedInTheMemoryWindowReachesTheFunction() throws {
        let (parts, directory) = try machineParts(disks: 1)
        defer { try? FileManager.default.removeItem(at: directory) }
        let function = PlatformLayout.pciECAMAddress + 1 << 15
        let bar = PlatformLayout.pciMemoryWindow.start.rawValue + 0x10_0000
        // BAR 4 (64-bit, at 0x20/0x24), then memory decoding on.
        _ = mmio(parts, function + 0x20, write: bar)
        _ = mmio(parts, function + 0x24, write: 0)
        _ = mmio(parts, function + 0x04, write: 0x2, size: 2)
        // virtio_blk_config.capacity at the device configuration (BAR 4 + 0x2000): 1 MiB is 2048 sectors.
        #expect(mmio(parts, bar + 0x2000, size: 4) == 2048)
        // Outside any placed BAR the window reads as open bus.
        #expect(mmio(parts, bar - 0x1000, size: 4) == 0xFFFF_FFFF)
    }
}

private struct Discard: SerialOutput {
    func transmit(_ byte: UInt8) {}
}
