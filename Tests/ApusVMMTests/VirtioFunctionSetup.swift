import ApusCore
import ApusDevices
import ApusTesting
import Testing

/// Plays a guest driver's start-up on a virtio-pci function plugged by PCIPlatform, for tests without a guest.
enum VirtioFunctionSetup {
    /// Sets the function up as a guest's driver would (registers are written through the function directly, so no
    /// BAR address is needed): accepts every offered feature and enables queue 0 (receive) and 1 (transmit), 64
    /// entries each, at 0x1_0000 and 0x1_4000. The notify registers are then BAR 4 offsets 0x3000 and 0x3004.
    static func driveToReady(_ function: VirtioPCIFunction, bus: PCIBus,
                             memory: GuestMemory) throws -> (receive: VirtqueueDriver, transmit: VirtqueueDriver) {
        try bus.exclusively {
            function.writeConfig(offset: 4, size: 2, value: 0x6)  // memory decode, bus master
            func common(_ offset: UInt64, _ value: UInt64, _ size: Int) {
                function.writeBar(4, offset: offset, size: size, value: value)
            }
            common(0x14, 3, 1)
            var offered: UInt64 = 0
            for select in 0..<2 as Range<UInt64> {
                common(0x00, select, 4)
                offered |= function.readBar(4, offset: 0x04, size: 4) << (32 * select)
            }
            for select in 0..<2 as Range<UInt64> {
                common(0x08, select, 4)
                common(0x0C, (offered >> (32 * select)) & 0xFFFF_FFFF, 4)
            }
            common(0x14, 11, 1)
            var rings: [VirtqueueDriver] = []
            for index in 0..<2 as Range<UInt64> {
                common(0x16, index, 2)
                common(0x18, 64, 2)
                let ring = try VirtqueueDriver(memory: memory, size: 64, base: GuestAddress(0x1_0000 + index * 0x4000))
                common(0x20, ring.descriptorTable.rawValue, 8)
                common(0x28, ring.availableRing.rawValue, 8)
                common(0x30, ring.usedRing.rawValue, 8)
                common(0x1C, 1, 2)
                rings.append(ring)
            }
            common(0x14, 15, 1)
            #expect(function.status == 15, "the device accepted the driver")
            return (rings[0], rings[1])
        }
    }
}
