public import ApusCore

/// The ACPI tables of a machine (ACPI 6.x, chapter 5): RSDP, RSDT and XSDT, FADT with its FACS, a DSDT in AML,
/// MADT, and any extra tables. `build` lays them out from a base address; `write` puts them in guest memory, with
/// the RSDP first so a scan of 0xE0000-0xFFFFF on a 16-byte boundary finds it.
public struct ACPITables: Sendable, Equatable {
    /// Each table's bytes by signature, and where it lies.
    public var tables: [(signature: String, address: UInt64, bytes: [UInt8])]
    public var rsdpAddress: UInt64

    public static func == (lhs: ACPITables, rhs: ACPITables) -> Bool {
        lhs.rsdpAddress == rhs.rsdpAddress && lhs.tables.elementsEqual(rhs.tables) {
            $0.signature == $1.signature && $0.address == $1.address && $0.bytes == $1.bytes
        }
    }

    /// The legacy RSDP search area's start (5.2.5.1): the tables go there, inside the e820 hole below 1 MiB.
    public static let defaultBase: UInt64 = 0xE0000
    public static let areaEnd: UInt64 = 0x100000

    public static func build(for platform: ACPIPlatform, at base: UInt64 = defaultBase) throws -> ACPITables {
        guard platform.vcpuCount >= 1, platform.vcpuCount <= 255 else { throw BootError.invalidACPIPlatform("\(platform.vcpuCount) vCPUs") }
        var placed: [(String, UInt64, [UInt8])] = []
        var cursor = base + 64   // the RSDP is 36 bytes; keep the next table on a 64-byte boundary
        func place(_ signature: String, _ bytes: [UInt8], alignment: UInt64 = 16) -> UInt64 {
            cursor = (cursor + alignment - 1) & ~(alignment - 1)
            let address = cursor
            placed.append((signature, address, bytes))
            cursor += UInt64(bytes.count)
            return address
        }
        let facs = place("FACS", Self.facs(), alignment: 64)
        let dsdt = place("DSDT", Self.dsdt(platform))
        let fadt = place("FACP", Self.fadt(platform, facs: facs, dsdt: dsdt))
        let madt = place("APIC", Self.madt(platform))
        var listed = [fadt, madt]
        for table in platform.extraTables {
            listed.append(place(String(decoding: table.prefix(4), as: UTF8.self), table))
        }
        var xsdt = ACPITable(signature: "XSDT", revision: 1)
        var rsdt = ACPITable(signature: "RSDT", revision: 1)
        for address in listed {
            xsdt.append64(address)
            rsdt.append32(UInt32(address))
        }
        let xsdtAddress = place("XSDT", xsdt.bytes)
        let rsdtAddress = place("RSDT", rsdt.bytes)
        guard cursor <= areaEnd, base >= 0x1000 else { throw BootError.invalidACPIPlatform("the tables do not fit below 1 MiB") }
        placed.insert(("RSD PTR ", base, Self.rsdp(xsdt: xsdtAddress, rsdt: rsdtAddress)), at: 0)
        return ACPITables(tables: placed.map { (signature: $0.0, address: $0.1, bytes: $0.2) }, rsdpAddress: base)
    }

    public func write(into memory: GuestMemory) throws {
        for table in tables {
            try memory.write(table.bytes, at: GuestAddress(table.address))
        }
    }

    /// The byte that makes `bytes` sum to zero (mod 256) when placed in a zeroed checksum field.
    static func checksum(_ bytes: [UInt8]) -> UInt8 {
        0 &- bytes.reduce(0, &+)
    }

    // MARK: The tables

    /// RSDP revision 2 (5.2.5.3): the first 20 bytes have their own checksum, the 36 bytes another.
    static func rsdp(xsdt: UInt64, rsdt: UInt64) -> [UInt8] {
        var bytes = Array("RSD PTR ".utf8) + [0] + Array(ACPITable.oemID.utf8) + [2]
        bytes += AML.littleEndian(rsdt, 4)
        bytes[8] = checksum(bytes)
        bytes += AML.littleEndian(36, 4) + AML.littleEndian(xsdt, 8) + [0, 0, 0, 0]
        bytes[32] = checksum(bytes)
        return bytes
    }

    /// FACS (5.2.10): 64 bytes, no checksum; nothing to wake from here.
    static func facs() -> [UInt8] {
        var bytes = Array("FACS".utf8) + AML.littleEndian(64, 4) + [UInt8](repeating: 0, count: 56)
        bytes[32] = 2   // version
        return bytes
    }

    /// FADT revision 6.0 (5.2.9), 276 bytes: PM1a event and control blocks, the 32-bit PM timer, SCI on `sciIRQ`,
    /// no SMI command port (always in ACPI mode), the reset register, and no C2/C3 states.
    static func fadt(_ platform: ACPIPlatform, facs: UInt64, dsdt: UInt64) -> [UInt8] {
        let event = platform.pmBlockPort + platform.pm1EventOffset
        let control = platform.pmBlockPort + platform.pm1ControlOffset
        let timer = platform.pmBlockPort + platform.pmTimerOffset
        var table = ACPITable(signature: "FACP", revision: 6)
        table.append32(UInt32(facs))
        table.append32(UInt32(dsdt))
        table.append8(0)                       // reserved (INT_MODEL)
        table.append8(0)                       // preferred PM profile: unspecified
        table.append16(UInt16(platform.sciIRQ))
        table.append32(0)                      // SMI_CMD
        table.append(Array(repeating: 0, count: 4))   // ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT
        table.append32(UInt32(event))
        table.append32(0)
        table.append32(UInt32(control))
        table.append32(0)
        table.append32(0)                      // PM2_CNT_BLK
        table.append32(UInt32(timer))
        table.append32(0)                      // GPE0_BLK
        table.append32(0)                      // GPE1_BLK
        table.append([4, 2, 0, 4, 0, 0, 0, 0]) // PM1_EVT_LEN, PM1_CNT_LEN, PM2, PM_TMR_LEN, GPE0, GPE1, GPE1_BASE, CST_CNT
        table.append16(101)                    // P_LVL2_LAT > 100: no C2
        table.append16(1001)                   // P_LVL3_LAT > 1000: no C3
        table.append(Array(repeating: 0, count: 9))   // FLUSH_SIZE, FLUSH_STRIDE, DUTY_OFFSET/WIDTH, alarms, CENTURY
        table.append16(0x0007)                 // IAPC_BOOT_ARCH: legacy devices, 8042, no VGA
        table.append8(0)
        // WBINVD, PROC_C1, PWR_BUTTON and SLP_BUTTON (none as fixed features), TMR_VAL_EXT, RESET_REG_SUP.
        table.append32(1 << 0 | 1 << 2 | 1 << 4 | 1 << 5 | 1 << 8 | 1 << 10)
        table.appendIOAddress(platform.pmBlockPort + platform.resetRegisterOffset, bitWidth: 8, accessSize: 1)
        table.append8(platform.resetValue)
        table.append16(0)                      // ARM_BOOT_ARCH
        table.append8(0)                       // FADT minor version
        table.append64(facs)
        table.append64(dsdt)
        table.appendIOAddress(event, bitWidth: 32, accessSize: 2)
        table.append(Array(repeating: 0, count: 12))
        table.appendIOAddress(control, bitWidth: 16, accessSize: 2)
        table.append(Array(repeating: 0, count: 12 * 2))   // PM1b control, PM2 control
        table.appendIOAddress(timer, bitWidth: 32, accessSize: 3)
        table.append(Array(repeating: 0, count: 12 * 4))   // GPE0, GPE1, sleep control, sleep status
        table.append(Array("APUSAPUS".utf8))  // hypervisor vendor identity
        return table.bytes
    }

    /// DSDT: `\_S5` for soft-off, and `\_SB` with whatever devices the platform adds.
    static func dsdt(_ platform: ACPIPlatform) -> [UInt8] {
        var table = ACPITable(signature: "DSDT", revision: 2)
        let terms: [AML] = [
            .name("\\_S5", .package([.integer(UInt64(platform.softOffSleepType)), .integer(UInt64(platform.softOffSleepType)),
                                     .integer(0), .integer(0)])),
            .scope("\\_SB", platform.systemBusDevices),
        ]
        table.append(terms.flatMap(\.encoded))
        return table.bytes
    }

    /// MADT (5.2.12): one local APIC per vCPU, the IOAPIC, IRQ 0 → GSI 2, the SCI as a level-triggered active-high
    /// override, and LINT1 as NMI on every processor. PCAT_COMPAT: the 8259A pair is there too.
    static func madt(_ platform: ACPIPlatform) -> [UInt8] {
        var table = ACPITable(signature: "APIC", revision: 4)
        table.append32(platform.localAPICAddress)
        table.append32(1)
        for cpu in 0..<platform.vcpuCount {
            table.append([0, 8, UInt8(cpu), UInt8(cpu)])
            table.append32(1)   // enabled
        }
        table.append([1, 12, platform.ioapicID, 0])
        table.append32(platform.ioapicAddress)
        table.append32(platform.ioapicGSIBase)
        table.append([2, 10, 0, 0])               // ISA IRQ 0 → GSI 2, bus-conforming
        table.append32(2)
        table.append16(0)
        table.append([2, 10, 0, platform.sciIRQ]) // SCI: level-triggered (11b << 2), active high (01b)
        table.append32(UInt32(platform.sciIRQ))
        table.append16(0x000D)
        table.append([4, 6, 0xFF])                // local APIC NMI: all processors, LINT1
        table.append16(0)
        table.append8(1)
        return table.bytes
    }
}
