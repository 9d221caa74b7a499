import ApusCore
import ApusDevices
import ApusTesting
import Testing

/// A function with an I/O BAR and a 32-bit memory BAR that records what reaches them.
final class RecordingPCIFunction: PCIFunction {
    var config: PCIConfigSpace
    var accesses: [(bar: Int, offset: UInt64, size: Int, value: UInt64?)] = []

    init() {
        config = PCIConfigSpace(vendorID: 0x1234, deviceID: 0x5678, classCode: 0xFF_0000)
        config.defineBar(0, PCIBarDefinition(kind: .io, size: 32))
        config.defineBar(1, PCIBarDefinition(kind: .memory32, size: 0x1000))
        config.defineBar(2, PCIBarDefinition(kind: .memory64, size: 1 << 33))
    }

    func readConfig(offset: Int, size: Int) -> UInt32 { config.read(offset: offset, size: size) }
    func writeConfig(offset: Int, size: Int, value: UInt32) { config.write(offset: offset, size: size, value: value) }
    func readBar(_ index: Int, offset: UInt64, size: Int) -> UInt64 {
        accesses.append((index, offset, size, nil))
        return 0xAB
    }
    func writeBar(_ index: Int, offset: UInt64, size: Int, value: UInt64) { accesses.append((index, offset, size, value)) }
}

/// Configuration mechanism 1, BAR sizing and placement through the windows, hostile writes.
@Suite struct PCIBusTests {
    let bus = PCIBus()

    func address(device: Int, register: Int, bus busNumber: Int = 0, function: Int = 0, enabled: Bool = true) -> UInt64 {
        UInt64((enabled ? 0x8000_0000 : 0) | busNumber << 16 | device << 11 | function << 8 | register)
    }

    func configRead(_ device: Int, _ register: Int, size: Int = 4) -> UInt64 {
        bus.configPortWrite(offset: 0, size: 4, value: address(device: device, register: register & ~3))
        return bus.configPortRead(offset: 4 + UInt64(register & 3), size: size)
    }

    func configWrite(_ device: Int, _ register: Int, _ value: UInt64, size: Int = 4) {
        bus.configPortWrite(offset: 0, size: 4, value: address(device: device, register: register & ~3))
        bus.configPortWrite(offset: 4 + UInt64(register & 3), size: size, value: value)
    }

    @Test func mechanismOneFindsTheHostBridgeAndNothingElse() {
        #expect(configRead(0, 0) == 0x0008_1B36)
        #expect(configRead(0, 0x0A, size: 2) == 0x0600, "class: host bridge")
        #expect(configRead(0, 0x02, size: 2) == 0x0008)
        #expect(configRead(5, 0) == 0xFFFF_FFFF, "an empty slot reads all ones")
        bus.configPortWrite(offset: 0, size: 4, value: address(device: 0, register: 0, enabled: false))
        #expect(bus.configPortRead(offset: 4, size: 4) == 0xFFFF_FFFF, "the enable bit is clear")
        bus.configPortWrite(offset: 0, size: 4, value: address(device: 0, register: 0, bus: 1))
        #expect(bus.configPortRead(offset: 4, size: 4) == 0xFFFF_FFFF, "bus 1 does not exist")
        bus.configPortWrite(offset: 0, size: 4, value: address(device: 0, register: 0, function: 3))
        #expect(bus.configPortRead(offset: 4, size: 2) == 0xFFFF, "functions other than 0 do not exist")
        bus.configPortWrite(offset: 0, size: 4, value: 0x8000_0003)
        #expect(bus.configPortRead(offset: 0, size: 4) == 0x8000_0000, "reserved bits of CONFIG_ADDRESS read zero")
    }

    @Test func barsSizeThemselvesAndPlaceWhereTheGuestSays() throws {
        let function = RecordingPCIFunction()
        let device = try bus.plug(function)
        #expect(configRead(device, 0) == 0x5678_1234)
        configWrite(device, 0x10, 0xFFFF_FFFF)
        #expect(configRead(device, 0x10) == 0xFFFF_FFE1, "32-byte I/O BAR")
        configWrite(device, 0x14, 0xFFFF_FFFF)
        #expect(configRead(device, 0x14) == 0xFFFF_F000, "4 KiB memory BAR")
        configWrite(device, 0x18, 0xFFFF_FFFF)
        configWrite(device, 0x1C, 0xFFFF_FFFF)
        #expect(configRead(device, 0x18) == 0x0000_0004, "8 GiB 64-bit BAR: low half")
        #expect(configRead(device, 0x1C) == 0xFFFF_FFFE, "8 GiB 64-bit BAR: high half")
        #expect(configRead(device, 0x20) == 0, "an unimplemented BAR reads zero")

        // Place the BARs; nothing decodes until the command register enables the spaces.
        configWrite(device, 0x10, 0xC123)      // low bits are masked to the 32-byte alignment
        configWrite(device, 0x14, 0xC000_0234)
        #expect(configRead(device, 0x10) == 0xC121)
        #expect(bus.windowRead(io: true, address: 0xC120, size: 1) == 0xFF)
        configWrite(device, 0x04, 0x3, size: 2)
        #expect(bus.windowRead(io: true, address: 0xC124, size: 2) == 0xAB)
        #expect(bus.windowRead(io: false, address: 0xC000_0FFC, size: 4) == 0xAB)
        bus.windowWrite(io: false, address: 0xC000_0010, size: 4, value: 7)
        #expect(function.accesses.map(\.bar) == [0, 1, 1])
        #expect(function.accesses.last.map { $0.offset == 0x10 && $0.value == 7 } == true)
        #expect(bus.windowRead(io: false, address: 0xC000_0FFE, size: 4) == 0xFFFF_FFFF, "straddles the BAR's end")

        // Move the memory BAR: the old address is open bus, the new one decodes.
        configWrite(device, 0x14, 0xC010_0000)
        #expect(bus.windowRead(io: false, address: 0xC000_0000, size: 4) == 0xFFFF_FFFF)
        #expect(bus.windowRead(io: false, address: 0xC010_0000, size: 4) == 0xAB)
        // Disabling memory decode hides it.
        configWrite(device, 0x04, 0x1, size: 2)
        #expect(bus.windowRead(io: false, address: 0xC010_0000, size: 4) == 0xFFFF_FFFF)
    }

    @Test func readOnlyRegistersIgnoreTheGuest() throws {
        let function = RecordingPCIFunction()
        let device = try bus.plug(function)
        configWrite(device, 0x00, 0xDEAD_BEEF)
        configWrite(device, 0x08, 0xFFFF_FFFF)
        configWrite(device, 0x2C, 0xFFFF_FFFF)
        configWrite(device, 0x3D, 0x7, size: 1)
        #expect(configRead(device, 0) == 0x5678_1234)
        #expect(configRead(device, 0x08) == 0xFF00_0000)
        #expect(configRead(device, 0x3D, size: 1) == 1, "interrupt pin INTA#")
        configWrite(device, 0x3C, 0x0B, size: 1)
        #expect(configRead(device, 0x3C, size: 1) == 0x0B, "interrupt line is the firmware's scratch byte")
        configWrite(device, 0x04, 0xFFFF, size: 2)
        #expect(configRead(device, 0x04, size: 2) == 0x0407, "only I/O, memory, bus master and INTx disable stick")
        // Byte writes into a BAR keep the size alignment.
        configWrite(device, 0x15, 0xFF, size: 1)
        #expect(configRead(device, 0x14) == 0x0000_F000)
        #expect(throws: PCIError.slotTaken(0)) { try bus.plug(RecordingPCIFunction(), device: 0) }
        #expect(throws: PCIError.slotTaken(device)) { try bus.plug(RecordingPCIFunction(), device: device) }
    }

    @Test func windowsReachTheBusesThroughBusDevices() throws {
        let function = RecordingPCIFunction()
        let device = try bus.plug(function)
        configWrite(device, 0x14, 0xC000_0000)
        configWrite(device, 0x04, 0x2, size: 2)
        let mmio = try IOBus(name: "mmio").inserting(DeviceSlot(name: "pci-mem", device: bus.memoryWindowDevice),
                                                     at: bus.memoryWindow)
        let (slot, offset) = try #require(mmio.resolve(0xC000_0008))
        #expect(slot.withDevice { $0.read(offset: offset, size: 4) } == 0xAB)
        #expect(function.accesses.last?.offset == 8)
    }

    @Test func ecamReachesTheSameConfigurationSpace() throws {
        let function = RecordingPCIFunction()
        let device = try bus.plug(function)
        let base = UInt64(device) << 15
        #expect(bus.ecamRead(offset: 0, size: 4) == 0x0008_1B36, "the host bridge at 00:00.0")
        #expect(bus.ecamRead(offset: base, size: 4) == 0x5678_1234)
        #expect(bus.ecamRead(offset: base + 2, size: 2) == 0x5678)
        bus.ecamWrite(offset: base + 0x14, size: 4, value: 0xFFFF_FFFF)
        #expect(configRead(device, 0x14) == 0xFFFF_F000, "a BAR sized through ECAM reads back through 0xCF8")
        #expect(bus.ecamRead(offset: base + 0x100, size: 4) == 0, "no extended capabilities")
        #expect(bus.ecamRead(offset: 7 << 15, size: 4) == 0xFFFF_FFFF, "an empty slot")
        #expect(bus.ecamRead(offset: base | 1 << 12, size: 4) == 0xFFFF_FFFF, "function 1 does not exist")
        #expect(bus.ecamRead(offset: base + 1, size: 4) == 0xFFFF_FFFF, "a misaligned access is dropped")
        #expect(bus.ecamRead(offset: PCIBus.ecamSize, size: 4) == 0xFFFF_FFFF, "beyond bus 0")
        bus.ecamWrite(offset: base + 0x101, size: 2, value: 0xFFFF)
        #expect(bus.ecamRead(offset: base, size: 4) == 0x5678_1234)
    }

    @Test func msixDeliversUnmaskedVectorsAndHoldsMaskedOnesPending() {
        var config = PCIConfigSpace(vendorID: 1, deviceID: 2, classCode: 0)
        var table = MSIXTable(vectors: 3, config: &config, bar: 1, tableOffset: 0, pbaOffset: 0x800)
        let capability = table.capabilityOffset
        #expect(config.read(offset: PCIConfigSpace.Register.capabilitiesPointer, size: 1) == UInt32(capability))
        #expect(config.read(offset: PCIConfigSpace.Register.status, size: 2) & 0x10 != 0)
        #expect(config.read(offset: capability, size: 4) == 0x0002_0011, "ID 0x11, end of list, table size 3")
        #expect(config.read(offset: capability + 4, size: 4) == 1, "table in BAR 1 at 0")
        #expect(table.signal(0, config: config) == nil, "disabled: nothing")
        config.write(offset: capability + 2, size: 2, value: 0x8000 | 0x7FF)   // enable; table size is read-only
        #expect(config.read(offset: capability + 2, size: 2) == 0x8002)
        _ = table.writeTable(offset: 0, size: 8, value: 0xFEE0_0000, config: config)
        _ = table.writeTable(offset: 8, size: 4, value: 0x41, config: config)
        #expect(table.signal(0, config: config) == nil, "entries are masked at reset")
        #expect(table.readPBA(offset: 0, size: 8) == 1)
        let released = table.writeTable(offset: 12, size: 4, value: 0, config: config)
        #expect(released.count == 1 && released[0].address == 0xFEE0_0000 && released[0].data == 0x41)
        #expect(table.readPBA(offset: 0, size: 8) == 0)
        let direct = table.signal(0, config: config)
        #expect(direct?.data == 0x41)
        config.write(offset: capability + 2, size: 2, value: 0xC000)           // function mask
        #expect(table.signal(0, config: config) == nil)
        config.write(offset: capability + 2, size: 2, value: 0x8000)
        #expect(table.flushPending(config: config).count == 1)
        #expect(table.signal(7, config: config) == nil, "a vector beyond the table is ignored")
        #expect(table.readTable(offset: 0x1000, size: 4) == 0 && table.readTable(offset: 2, size: 4) == 0)
    }
}
