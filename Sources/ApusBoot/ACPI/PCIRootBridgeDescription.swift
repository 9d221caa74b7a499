/// How ACPI describes a machine's PCI bus 0: a root bridge `\_SB.PCI0` (PNP0A08, compatible with PNP0A03) whose
/// `_CRS` claims bus 0, the I/O window and the memory window, a `_PRT` routing every slot's INTx pins to GSIs, a
/// motherboard-resources device (PNP0C02) reserving the ECAM area (Linux uses ECAM only if it is reserved so), and
/// the MCFG table pointing at that area.
public struct PCIRootBridgeDescription: Sendable, Equatable {
    public var ecamBase: UInt64
    public var ioWindowBase: UInt16
    public var ioWindowSize: UInt16
    public var memoryWindowBase: UInt32
    public var memoryWindowSize: UInt32
    /// The GSI of INTA# for devices whose (device + pin) is 0 mod 4; the four GSIs from here are swizzled over.
    public var firstINTxGSI: UInt32

    public init(ecamBase: UInt64, ioWindowBase: UInt16, ioWindowSize: UInt16, memoryWindowBase: UInt32,
                memoryWindowSize: UInt32, firstINTxGSI: UInt32) {
        self.ecamBase = ecamBase
        self.ioWindowBase = ioWindowBase
        self.ioWindowSize = ioWindowSize
        self.memoryWindowBase = memoryWindowBase
        self.memoryWindowSize = memoryWindowSize
        self.firstINTxGSI = firstINTxGSI
    }

    /// The usual swizzle of a bus without bridges: device `device`'s pin (0 = INTA#) lands on GSI base + (d + p) % 4.
    public static func intxGSI(device: Int, pin: Int, first: UInt32) -> UInt32 {
        first + UInt32((device + pin) % 4)
    }

    /// Bus 0's slice of ECAM: 32 devices x 8 functions x 4 KiB.
    public static let ecamBusSize: UInt64 = 1 << 20

    /// Adds the devices and the MCFG table to `platform`.
    public func describe(in platform: inout ACPIPlatform) {
        platform.systemBusDevices += [rootBridge, motherboardResources]
        platform.extraTables.append(mcfg)
    }

    var rootBridge: AML {
        let routes: [AML] = (1..<32).flatMap { device in
            (0..<4).map { pin in
                // Address 0xDDDD_FFFF: any function of device DDDD. Source 0: the last field is a GSI.
                AML.package([.integer(UInt64(device) << 16 | 0xFFFF), .integer(UInt64(pin)), .integer(0),
                             .integer(UInt64(Self.intxGSI(device: device, pin: pin, first: firstINTxGSI)))])
            }
        }
        return .device("PCI0", [
            .name("_HID", .eisaID("PNP0A08")),
            .name("_CID", .eisaID("PNP0A03")),
            .name("_UID", .integer(0)),
            .name("_SEG", .integer(0)),
            .name("_BBN", .integer(0)),
            .name("_CRS", .buffer(ResourceTemplate.busNumbers(0...0)
                + ResourceTemplate.legacyConfigPorts
                + ResourceTemplate.ioRange(base: ioWindowBase, size: ioWindowSize)
                + ResourceTemplate.memoryRange(base: memoryWindowBase, size: memoryWindowSize)
                + ResourceTemplate.end)),
            .name("_PRT", .package(routes)),
        ])
    }

    var motherboardResources: AML {
        .device("MRES", [
            .name("_HID", .eisaID("PNP0C02")),
            .name("_UID", .integer(1)),
            .name("_CRS", .buffer(ResourceTemplate.fixedMemory(base: UInt32(ecamBase), size: UInt32(Self.ecamBusSize))
                + ResourceTemplate.end)),
        ])
    }

    /// MCFG (PCI Firmware Specification 3.x, 4.1.2): one allocation, segment 0, buses 0-0.
    var mcfg: [UInt8] {
        var table = ACPITable(signature: "MCFG", revision: 1)
        table.append(Array(repeating: 0, count: 8))
        table.append64(ecamBase)
        table.append16(0)
        table.append([0, 0])
        table.append32(0)
        return table.bytes
    }
}

/// The large and small resource descriptors (ACPI 6.x, 6.4) a root bridge's `_CRS` needs.
enum ResourceTemplate {
    static func le(_ value: UInt64, _ count: Int) -> [UInt8] { AML.littleEndian(value, count) }

    /// Word Address Space Descriptor (6.4.3.5.3) for bus numbers: a producer range.
    static func busNumbers(_ buses: ClosedRange<UInt16>) -> [UInt8] {
        let length = UInt64(buses.upperBound - buses.lowerBound + 1)
        // type 2 (bus), general flags: MinFixed | MaxFixed (bits 2,3), producer; no type-specific flags.
        return [0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00] + le(0, 2) + le(UInt64(buses.lowerBound), 2)
            + le(UInt64(buses.upperBound), 2) + le(0, 2) + le(length, 2)
    }

    /// I/O Port Descriptor (6.4.2.5) for 0xCF8-0xCFF, which the bridge decodes itself.
    static var legacyConfigPorts: [UInt8] { [0x47, 0x01] + le(0xCF8, 2) + le(0xCF8, 2) + [0x01, 0x08] }

    /// Word Address Space Descriptor for an I/O range the bridge forwards (type 0; ISA and non-ISA ranges).
    static func ioRange(base: UInt16, size: UInt16) -> [UInt8] {
        [0x88, 0x0D, 0x00, 0x01, 0x0C, 0x03] + le(0, 2) + le(UInt64(base), 2) + le(UInt64(base) + UInt64(size) - 1, 2)
            + le(0, 2) + le(UInt64(size), 2)
    }

    /// DWord Address Space Descriptor (6.4.3.5.2) for a memory range the bridge forwards: non-cacheable, read-write.
    static func memoryRange(base: UInt32, size: UInt32) -> [UInt8] {
        [0x87, 0x17, 0x00, 0x00, 0x0C, 0x01] + le(0, 4) + le(UInt64(base), 4)
            + le(UInt64(base) + UInt64(size) - 1, 4) + le(0, 4) + le(UInt64(size), 4)
    }

    /// 32-bit Fixed Memory Range Descriptor (6.4.3.4), read-write.
    static func fixedMemory(base: UInt32, size: UInt32) -> [UInt8] {
        [0x86, 0x09, 0x00, 0x01] + le(UInt64(base), 4) + le(UInt64(size), 4)
    }

    /// End Tag (6.4.2.9); checksum 0 means "not checked".
    static var end: [UInt8] { [0x79, 0x00] }
}
