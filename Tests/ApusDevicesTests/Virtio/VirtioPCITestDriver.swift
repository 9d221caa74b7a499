import ApusCore
import ApusDevices
import ApusTesting
import Synchronization
import Testing

/// An MSI sink that remembers every message.
final class RecordingMSISink: MSIMessageSink {
    private let messages = Mutex<[(UInt64, UInt32)]>([])
    func deliver(address: UInt64, data: UInt32) { messages.withLock { $0.append((address, data)) } }
    var delivered: [(address: UInt64, data: UInt32)] { messages.withLock { $0.map { ($0.0, $0.1) } } }
}

/// What a guest's virtio-pci driver does, through the PCI bus only: find the capabilities, place the BARs, negotiate
/// features, set up every queue with the driver-side double, and send requests.
final class VirtioPCITestDriver {
    static let configBarAddress: UInt64 = 0xE000_0000
    static let msixBarAddress: UInt64 = 0xD000_0000

    let bus: PCIBus
    let device: Int
    let memory: GuestMemory
    /// Queue 0's driver side, and every queue's.
    var queue: VirtqueueDriver!
    var queues: [VirtqueueDriver] = []
    /// How far apart `initialise` lays out the queues' rings (enough for 256 entries).
    static let queueStride: UInt64 = 0x4000
    /// Offsets in BAR 4 by virtio_pci_cap cfg_type.
    var structures: [UInt8: UInt64] = [:]

    init(bus: PCIBus, device: Int, memory: GuestMemory) {
        self.bus = bus
        self.device = device
        self.memory = memory
    }

    func configRead(_ register: Int, size: Int = 4) -> UInt64 {
        bus.configPortWrite(offset: 0, size: 4, value: UInt64(0x8000_0000 | device << 11 | register & ~3))
        return bus.configPortRead(offset: 4 + UInt64(register & 3), size: size)
    }

    func configWrite(_ register: Int, _ value: UInt64, size: Int = 4) {
        bus.configPortWrite(offset: 0, size: 4, value: UInt64(0x8000_0000 | device << 11 | register & ~3))
        bus.configPortWrite(offset: 4 + UInt64(register & 3), size: size, value: value)
    }

    func common(_ offset: UInt64, size: Int) -> UInt64 {
        bus.windowRead(io: false, address: Self.configBarAddress + structures[1]! + offset, size: size)
    }

    func setCommon(_ offset: UInt64, _ value: UInt64, size: Int) {
        bus.windowWrite(io: false, address: Self.configBarAddress + structures[1]! + offset, size: size, value: value)
    }

    var status: UInt8 { UInt8(common(0x14, size: 1)) }

    func readISR() -> UInt8 { UInt8(bus.windowRead(io: false, address: Self.configBarAddress + structures[3]!, size: 1)) }

    func deviceConfig(_ offset: UInt64, size: Int) -> UInt64 {
        bus.windowRead(io: false, address: Self.configBarAddress + structures[4]! + offset, size: size)
    }

    /// Walks the capability list for virtio structures, places the BARs and enables memory decode and bus mastering.
    func probe() {
        var pointer = Int(configRead(0x34, size: 1))
        while pointer != 0 {
            if configRead(pointer, size: 1) == 0x09 {
                let type = UInt8(configRead(pointer + 3, size: 1))
                #expect(configRead(pointer + 4, size: 1) == 4, "virtio structures live in BAR 4")
                structures[type] = configRead(pointer + 8)
            }
            pointer = Int(configRead(pointer + 1, size: 1))
        }
        configWrite(0x20, Self.configBarAddress & 0xFFFF_FFFF)
        configWrite(0x24, Self.configBarAddress >> 32)
        configWrite(0x14, Self.msixBarAddress)
        configWrite(0x04, 0x6, size: 2)
    }

    /// The driver's side of initialisation (virtio 1.x 3.1.1), accepting `features` of what the device offers.
    func initialise(features wanted: UInt64, queueSize: UInt16 = 64, ringBase: UInt64 = 0x10000) throws -> UInt64 {
        if structures.isEmpty { probe() }
        setCommon(0x14, 0, size: 1)
        setCommon(0x14, UInt64(VirtioStatus.acknowledge | VirtioStatus.driver), size: 1)
        var offered: UInt64 = 0
        for select in 0..<2 as Range<UInt64> {
            setCommon(0x00, select, size: 4)
            offered |= common(0x04, size: 4) << (32 * select)
        }
        let accepted = offered & wanted
        for select in 0..<2 as Range<UInt64> {
            setCommon(0x08, select, size: 4)
            setCommon(0x0C, (accepted >> (32 * select)) & 0xFFFF_FFFF, size: 4)
        }
        setCommon(0x14, UInt64(VirtioStatus.acknowledge | VirtioStatus.driver | VirtioStatus.featuresOK), size: 1)
        #expect(status & VirtioStatus.featuresOK != 0)
        // Every queue the device has (num_queues), each laid out `queueStride` bytes after the previous one.
        queues = []
        for index in 0..<common(0x12, size: 2) {
            setCommon(0x16, index, size: 2)
            setCommon(0x18, UInt64(queueSize), size: 2)
            let ring = try VirtqueueDriver(memory: memory, size: queueSize,
                                           base: GuestAddress(ringBase + index * Self.queueStride))
            setCommon(0x20, ring.descriptorTable.rawValue, size: 8)
            setCommon(0x28, ring.availableRing.rawValue & 0xFFFF_FFFF, size: 4)
            setCommon(0x2C, ring.availableRing.rawValue >> 32, size: 4)
            setCommon(0x30, ring.usedRing.rawValue, size: 8)
            setCommon(0x1C, 1, size: 2)
            queues.append(ring)
        }
        queue = queues.first
        setCommon(0x14, UInt64(VirtioStatus.acknowledge | VirtioStatus.driver | VirtioStatus.featuresOK
                               | VirtioStatus.driverOK), size: 1)
        return accepted
    }

    func notify(queue index: UInt64 = 0) {
        let address = Self.configBarAddress + structures[2]! + index * 4
        bus.windowWrite(io: false, address: address, size: 2, value: index)
    }
}
