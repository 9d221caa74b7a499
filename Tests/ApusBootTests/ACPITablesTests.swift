@testable import ApusBoot
import ApusCore
import Foundation
import Testing

/// The ACPI tables: checksums, the RSDP where the legacy scan finds it and where boot_params points, what the MADT
/// and FADT say, and Intel's disassembler (`iasl -d`, Debian's acpica-tools) reading every table without an error
/// or a warning.
@Suite struct ACPITablesTests {
    func tables(vcpus: Int = 2) throws -> ACPITables {
        var platform = ACPIPlatform(vcpuCount: vcpus)
        // The PCI root bridge (with its _CRS and _PRT), the ECAM reservation and the MCFG, as the VMM adds them.
        PCIRootBridgeDescription(ecamBase: 0xD800_0000, ioWindowBase: 0xC000, ioWindowSize: 0x4000,
                                 memoryWindowBase: 0xE000_0000, memoryWindowSize: 0x1000_0000,
                                 firstINTxGSI: 16).describe(in: &platform)
        return try ACPITables.build(for: platform)
    }

    func table(_ signature: String, in tables: ACPITables) -> [UInt8] {
        tables.tables.first { $0.signature == signature }!.bytes
    }

    func read32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * UInt32($1)) }
    }

    @Test func everyChecksumIsRightAndTheRSDPIsInTheScanArea() throws {
        let tables = try tables()
        #expect(tables.rsdpAddress == 0xE0000 && tables.rsdpAddress % 16 == 0)
        for table in tables.tables where table.signature != "FACS" {
            if table.signature == "RSD PTR " {
                #expect(table.bytes[0..<20].reduce(0, &+) == 0 && table.bytes.reduce(0, &+) == 0)
            } else {
                #expect(table.bytes.reduce(0, &+) == 0, "\(table.signature) checksum")
                #expect(Int(read32(table.bytes, 4)) == table.bytes.count, "\(table.signature) length")
            }
            #expect(table.address + UInt64(table.bytes.count) <= 0x100000)
        }
        #expect(table("FACP", in: tables).count == 276)
    }

    @Test func theMADTListsEveryCPUTheIOAPICAndTheOverrides() throws {
        let madt = table("APIC", in: try tables(vcpus: 3))
        #expect(read32(madt, 36) == 0xFEE0_0000 && read32(madt, 40) == 1)
        var entries: [[UInt8]] = []
        var at = 44
        while at < madt.count {
            entries.append(Array(madt[at..<at + Int(madt[at + 1])]))
            at += Int(madt[at + 1])
        }
        #expect(entries.filter { $0[0] == 0 }.map { $0[3] } == [0, 1, 2])
        #expect(entries.contains { $0[0] == 1 && read32($0, 4) == 0xFEC0_0000 })
        #expect(entries.contains { $0 == [2, 10, 0, 0, 2, 0, 0, 0, 0, 0] }, "IRQ 0 -> GSI 2")
        #expect(entries.contains { $0 == [2, 10, 0, 9, 9, 0, 0, 0, 0x0D, 0] }, "SCI level, active high")
    }

    @Test func theMCFGPointsAtTheECAMAreaForBusZero() throws {
        let tables = try tables()
        let mcfg = table("MCFG", in: tables)
        #expect(mcfg.count == 60)
        #expect(read32(mcfg, 44) == 0xD800_0000 && read32(mcfg, 48) == 0, "base address")
        #expect(mcfg[52] == 0 && mcfg[53] == 0 && mcfg[54] == 0 && mcfg[55] == 0, "segment 0, buses 0-0")
        let xsdt = table("XSDT", in: tables)
        let listed = stride(from: 36, to: xsdt.count, by: 8).map { UInt64(read32(xsdt, $0)) }
        #expect(listed.contains(tables.tables.first { $0.signature == "MCFG" }!.address), "XSDT lists the MCFG")
    }

    @Test func theLinuxLoaderPointsBootParamsAtTheRSDP() throws {
        let memory = try GuestMemory(size: 64 << 20)
        let kernel = ELFBuilder().build()
        _ = try LinuxBootLoader.load(kernel: kernel, initrd: nil, commandLine: "console=ttyS0", into: memory,
                                     acpi: ACPIPlatform(vcpuCount: 1))
        #expect(try memory.read(UInt64.self, at: GuestAddress(LowMemory.bootParams + 0x70)) == 0xE0000)
        var signature: [UInt8] = []
        for offset in 0..<8 { signature.append(try memory.read(UInt8.self, at: GuestAddress(0xE0000 + UInt64(offset)))) }
        #expect(signature == Array("RSD PTR ".utf8))
    }

    @Test func amlEncodesPackageLengthsAndNames() {
        #expect(AML.withPackageLength([UInt8](repeating: 0, count: 62)).prefix(1) == [63])
        let long = AML.withPackageLength([UInt8](repeating: 0, count: 100))
        #expect(long.prefix(2) == [0x40 | UInt8(102 & 0xF), UInt8(102 >> 4)] && long.count == 102)
        #expect(AML.nameString("\\_SB.PCI0") == [0x5C, 0x2E] + Array("_SB_PCI0".utf8))
        #expect(AML.eisaID("PNP0A03").encoded == [0x0C, 0x41, 0xD0, 0x0A, 0x03])
        #expect(AML.integer(0x1234).encoded == [0x0B, 0x34, 0x12])
    }

    /// `iasl -d` on every table; any "Error" or "Warning" in its output fails. Skipped (with the reason printed) when
    /// iasl is not installed.
    @Test func iaslDisassemblesEveryTableCleanly() throws {
        guard let iasl = ["/usr/bin/iasl", "/usr/local/bin/iasl"].first(where: FileManager.default.isExecutableFile) else {
            print("ACPITablesTests: skipping the disassembly: iasl is not installed (Debian: acpica-tools)")
            return
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("apus-acpi-\(getpid())-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // This iasl (20200925, Debian 12) refuses a lone RSDP ("not a valid ACPI table": its signature has a space);
        // the RSDP's checksums and fields are checked above, and every table it leads to goes through iasl here.
        for table in try tables().tables where table.signature != "RSD PTR " {
            let name = table.signature == "RSD PTR " ? "rsdp" : table.signature.lowercased()
            let file = directory.appendingPathComponent("\(name).dat")
            try Data(table.bytes).write(to: file)
            let keep = ProcessInfo.processInfo.environment["APUS_ACPI_DUMP"]
            if let keep { try Data(table.bytes).write(to: URL(fileURLWithPath: keep).appendingPathComponent("\(name).dat")) }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: iasl)
            process.arguments = ["-d", file.path]
            process.currentDirectoryURL = directory
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = pipe
            try process.run()
            let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "iasl -d \(name): \(output)")
            let complaints = output.components(separatedBy: "\n").filter {
                $0.range(of: "error", options: .caseInsensitive) != nil || $0.range(of: "warning", options: .caseInsensitive) != nil
            }.filter { !$0.contains("0 Errors") && !$0.contains("Compilation successful") }
            #expect(complaints.isEmpty, "iasl -d \(name): \(complaints)\n\(output)")
            let disassembly = try String(contentsOf: directory.appendingPathComponent("\(name).dsl"), encoding: .utf8)
            #expect(!disassembly.contains("Error") && !disassembly.contains("Warning") && !disassembly.contains("Invalid"),
                    "\(name).dsl:\n\(disassembly)")
        }
    }
}
