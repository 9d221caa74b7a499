public import ApusCore

/// Boots a Multiboot (version 1) kernel as GRUB and QEMU's `-kernel` do: the image is loaded by its ELF program
/// headers (or by the header's address fields), modules follow it on page boundaries, and the kernel is entered in
/// 32-bit protected mode with paging off, EAX = 0x2BADB002 and EBX = the information structure.
public enum MultibootLoader {
    public static func load(_ bytes: [UInt8], commandLine: String, modules: [MultibootModule],
                            into memory: GuestMemory) throws -> BootPlan {
        guard !bytes.isEmpty else { throw BootError.emptyImage }
        guard let header = MultibootHeader.find(in: bytes) else { throw BootError.notMultiboot }
        guard header.unsupportedRequirements == 0 else {
            throw BootError.multibootUnsupportedRequirements(header.unsupportedRequirements)
        }
        guard modules.count <= MultibootInfo.maximumModules else {
            throw BootError.tooManyMultibootModules(count: modules.count, limit: MultibootInfo.maximumModules)
        }
        guard !commandLine.utf8.contains(0) else { throw BootError.commandLineContainsNUL }

        let image: LoadedImage
        if header.flags.contains(.addressFields) {
            image = try loadByAddressFields(bytes, header: header, into: memory)
        } else {
            image = try loadELF(bytes, into: memory)
        }

        var placed: [MultibootInfo.PlacedModule] = []
        var next = pageAligned(image.end)
        for (index, module) in modules.enumerated() {
            let what = "module \(index + 1) (\(module.bytes.count) bytes)"
            let end = next + UInt64(module.bytes.count)
            guard end <= UInt64(UInt32.max) else {
                throw BootError.memoryTooSmall(what: what, needed: end, available: memory.size)
            }
            try memory.place(module.bytes, at: next, what: what)
            placed.append(.init(start: next, end: end, string: module.string))
            next = pageAligned(end)
        }
        let info = try MultibootInfo.write(commandLine: commandLine, modules: placed, into: memory)

        var (registers, special) = try EntryState.protectedMode(entry: image.entry,
                                                                stack: UInt32(LowMemory.protectedModeStack),
                                                                memory: memory)
        registers.rax = UInt64(MultibootHeader.bootloaderMagic)
        registers.rbx = info
        let moduleNote = modules.isEmpty ? "" : ", \(modules.count) module\(modules.count == 1 ? "" : "s")"
        let videoNote = header.flags.contains(.videoMode) ? " (its video mode request is ignored: no display)" : ""
        return BootPlan(registers: registers, specialRegisters: special,
                        summary: "Multiboot kernel (\(image.how)), entry \(hex(UInt64(image.entry)))\(moduleNote)\(videoNote)")
    }

    struct LoadedImage {
        var entry: UInt32
        /// One past the last byte the kernel occupies, BSS included.
        var end: UInt64
        var how: String
    }

    private static func loadELF(_ bytes: [UInt8], into memory: GuestMemory) throws -> LoadedImage {
        guard ImageFormat.detect(bytes) != .flat else { throw BootError.multibootNeedsAddressFields }
        let elf = try ELFImage(parsing: bytes)
        guard elf.entry <= UInt64(UInt32.max), elf.end <= UInt64(UInt32.max) else {
            throw BootError.multibootAbove4GiB(address: max(elf.entry, elf.end))
        }
        try elf.load(into: memory, reservedBelow: LowMemory.reservedEnd)
        return LoadedImage(entry: UInt32(elf.entry), end: elf.end,
                           how: "ELF\(elf.is64Bit ? "64" : "32"), \(elf.segments.count) segments to \(hex(elf.end))")
    }

    /// The a.out kludge: file offset `header.offset - (header_addr - load_addr)` is loaded at load_addr.
    private static func loadByAddressFields(_ bytes: [UInt8], header: MultibootHeader,
                                            into memory: GuestMemory) throws -> LoadedImage {
        guard let fields = header.addresses else {
            throw BootError.truncated(what: "the Multiboot address fields", needed: UInt64(header.offset + 32),
                                      fileSize: bytes.count)
        }
        let headerDistance = UInt64(fields.header) &- UInt64(fields.load)
        guard fields.load <= fields.header, headerDistance <= UInt64(header.offset) else {
            throw BootError.invalidMultibootAddresses("header_addr \(hex(UInt64(fields.header))) and load_addr "
                + "\(hex(UInt64(fields.load))) put the start of the image before the start of the file")
        }
        let fileStart = UInt64(header.offset) - headerDistance
        let loadEnd: UInt64
        if fields.loadEnd == 0 {
            loadEnd = UInt64(fields.load) + UInt64(bytes.count) - fileStart
        } else {
            guard fields.loadEnd >= fields.load else {
                throw BootError.invalidMultibootAddresses("load_end_addr \(hex(UInt64(fields.loadEnd))) lies below load_addr "
                    + "\(hex(UInt64(fields.load)))")
            }
            loadEnd = UInt64(fields.loadEnd)
        }
        let count = loadEnd - UInt64(fields.load)
        guard fileStart + count <= UInt64(bytes.count) else {
            throw BootError.truncated(what: "the Multiboot image's loaded part", needed: fileStart + count,
                                      fileSize: bytes.count)
        }
        let bssEnd = fields.bssEnd == 0 ? loadEnd : UInt64(fields.bssEnd)
        guard bssEnd >= loadEnd else {
            throw BootError.invalidMultibootAddresses("bss_end_addr \(hex(UInt64(fields.bssEnd))) lies below the end of the "
                + "loaded part \(hex(loadEnd))")
        }
        guard fields.load >= LowMemory.reservedEnd else {
            throw BootError.segmentInReservedArea(address: UInt64(fields.load), reservedEnd: LowMemory.reservedEnd)
        }
        guard UInt64(fields.entry) >= UInt64(fields.load), UInt64(fields.entry) < bssEnd else {
            throw BootError.entryOutsideSegments(entry: UInt64(fields.entry))
        }
        try memory.place(bytes[Int(fileStart)..<Int(fileStart + count)], at: UInt64(fields.load),
                         what: "the Multiboot image")
        try memory.placeZeros(at: loadEnd, count: bssEnd - loadEnd, what: "the Multiboot image's BSS")
        return LoadedImage(entry: fields.entry, end: bssEnd,
                           how: "\(count) bytes at \(hex(UInt64(fields.load))) by its address fields")
    }

    private static func pageAligned(_ address: UInt64) -> UInt64 { (address + 0xFFF) & ~0xFFF }
}
