public import ApusCore

/// Boots Linux through the x86 boot protocol's 64-bit entry, the microVM way: no firmware and no real-mode setup
/// code run. An ELF `vmlinux` has its PT_LOAD segments placed at their physical addresses and is entered at
/// `e_entry` (startup_64's physical address); a bzImage's protected-mode part goes to 1 MiB and is entered at +0x200,
/// where it decompresses itself.
///
/// Guest-physical layout: boot_params at 0x7000, the command line at 0x20000, GDT/TSS/page tables as in
/// `LowMemory`, the kernel from 1 MiB up, the initrd at the top of RAM below 4 GiB. RSI holds the boot_params
/// address at entry; CS = 0x10 and DS = ES = SS = 0x18 as boot.rst asks; the first 4 GiB are identity-mapped.
///
/// Why a bzImage loads at 0x100000 and not at pref_address: boot.rst's standard place for the protected-mode part
/// is 1 MiB, and the 64-bit decompressor moves itself to max(aligned load address, LOAD_PHYSICAL_ADDR) before it
/// unpacks, so the load address only has to be RAM. What matters is that RAM covers the decompression window
/// [runtime start, runtime start + init_size), which is checked, and that the initrd stays above it.
public enum LinuxBootLoader {
    /// Command-line limit for a vmlinux, which does not say: x86's COMMAND_LINE_SIZE (2048) minus the NUL.
    static let vmlinuxCommandLineLimit: UInt32 = 2047
    /// initrd_addr_max of every x86-64 kernel's header.
    static let vmlinuxInitrdAddressMax: UInt32 = 0x7FFF_FFFF

    /// With `acpi`, the ACPI tables are written to the legacy RSDP area and boot_params.acpi_rsdp_addr points at them.
    public static func load(kernel: [UInt8], initrd: [UInt8]?, commandLine: String,
                            into memory: GuestMemory, acpi: ACPIPlatform? = nil) throws -> BootPlan {
        guard !kernel.isEmpty else { throw BootError.emptyImage }
        try memory.require(0, size: LowMemory.reservedEnd, for: "the boot tables below 1 MiB")

        // Parse and check everything first, so a refused boot leaves guest memory untouched.
        let loaded: LoadedKernel
        switch ImageFormat.detect(kernel) {
        case .elf64: loaded = try vmlinux(ELFImage(parsing: kernel), memory: memory)
        case .bzImage: loaded = try bzImage(BzImage(parsing: kernel), memory: memory)
        case .elf32, .flat: throw BootError.notALinuxKernel(ImageFormat.detect(kernel))
        }
        var zeroPage = loaded.zeroPage
        let acpiTables = try acpi.map { try ACPITables.build(for: $0) }

        let commandBytes = Array(commandLine.utf8)
        guard !commandBytes.contains(0) else { throw BootError.commandLineContainsNUL }
        let limit = min(Int(clamping: loaded.commandLineLimit), LowMemory.commandLineCapacity - 1)
        guard commandBytes.count <= limit else {
            throw BootError.commandLineTooLong(length: commandBytes.count, limit: limit)
        }
        let initrdAddress = try initrd.flatMap { initrd -> UInt64? in
            guard !initrd.isEmpty else { return nil }
            return try InitrdPlacement.address(size: UInt64(initrd.count), kernelEnd: loaded.end,
                                               addressMax: loaded.initrdAddressMax, memory: memory)
        }

        try loaded.write(memory)
        try memory.place(commandBytes + [0], at: LowMemory.commandLine, what: "the kernel command line")
        zeroPage.setCommandLine(address: UInt32(LowMemory.commandLine))
        var summary = "\(loaded.description), entry \(hex(loaded.entry))"
        if let initrd, let initrdAddress {
            try memory.place(initrd, at: initrdAddress, what: "the initrd")
            // Placement kept it below 4 GiB: both fit in 32 bits and the ext_ramdisk fields stay zero.
            zeroPage.setInitrd(address: UInt32(initrdAddress), size: UInt32(initrd.count))
            summary += ", initrd \(formatBytes(UInt64(initrd.count))) at \(hex(initrdAddress))"
        }
        try zeroPage.setMemoryMap(E820Entry.map(for: memory))
        if let acpiTables {
            try acpiTables.write(into: memory)
            zeroPage.set64(ZeroPage.acpiRSDPAddress, acpiTables.rsdpAddress)
            summary += ", ACPI tables at \(hex(acpiTables.rsdpAddress))"
        }
        try memory.place(zeroPage.bytes, at: LowMemory.bootParams, what: "boot_params")

        var (registers, special) = try EntryState.longMode(entry: loaded.entry, stack: LowMemory.linuxStack,
                                                           memory: memory, layout: .linux)
        registers.rsi = LowMemory.bootParams
        return BootPlan(registers: registers, specialRegisters: special, summary: summary)
    }

    /// A kernel that passed every check, with what is left to do.
    struct LoadedKernel {
        var entry: UInt64
        /// One past the last byte the kernel uses before it reads the memory map.
        var end: UInt64
        var commandLineLimit: UInt32
        var initrdAddressMax: UInt32
        var zeroPage: ZeroPageBuilder
        var description: String
        var write: (GuestMemory) throws -> Void
    }

    static func vmlinux(_ image: ELFImage, memory: GuestMemory) throws -> LoadedKernel {
        try image.checkPlacement(in: memory, reservedBelow: LowMemory.reservedEnd)
        try image.checkEntryIsMapped()
        let count = image.segments.count
        return LoadedKernel(
            entry: image.entry, end: image.end, commandLineLimit: vmlinuxCommandLineLimit,
            initrdAddressMax: vmlinuxInitrdAddressMax,
            zeroPage: ZeroPageBuilder(synthesizingFor: vmlinuxCommandLineLimit, initrdAddressMax: vmlinuxInitrdAddressMax),
            description: "ELF64 kernel, \(count) segment\(count == 1 ? "" : "s") at "
                + "\(hex(image.segments[0].physicalAddress))-\(hex(image.end))",
            write: { try image.load(into: $0, reservedBelow: LowMemory.reservedEnd) })
    }

    static func bzImage(_ image: BzImage, memory: GuestMemory) throws -> LoadedKernel {
        let load = LowMemory.bzImageLoadAddress
        let code = image.protectedModeCode
        guard memory.holds(load, size: UInt64(code.count)) else {
            let room = memory.contiguousEnd(from: load) - load
            throw BootError.imageTooLarge(size: code.count, limit: room)
        }
        var end = load + UInt64(code.count)
        if image.initSize > 0 {
            let what = "the kernel's decompression window (init_size \(formatBytes(UInt64(image.initSize))))"
            guard let start = image.runtimeStart(loadedAt: load) else {
                throw BootError.memoryTooSmall(what: what, needed: .max, available: memory.size)
            }
            try memory.require(start, size: UInt64(image.initSize), for: what)
            end = max(end, start + UInt64(image.initSize))
        }
        var zeroPage = ZeroPageBuilder(copying: image.setupHeader)
        zeroPage.setCode32Start(UInt32(load))
        let name = image.shortVersion.map { "bzImage kernel \($0)" } ?? "bzImage kernel"
        return LoadedKernel(
            entry: load + 0x200, end: end, commandLineLimit: image.commandLineLimit,
            initrdAddressMax: image.initrdAddressMax, zeroPage: zeroPage,
            description: "\(name) (boot protocol \(protocolString(image.protocolVersion))), "
                + "\(formatBytes(UInt64(code.count))) at \(hex(load))",
            write: { try $0.place(code, at: load, what: "the protected-mode kernel") })
    }
}
