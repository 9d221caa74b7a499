public import ApusCore

/// Boots Linux through the x86 boot protocol's 64-bit entry, the microVM way: no firmware, no real-mode setup code.
/// An ELF `vmlinux` is entered at `startup_64` (its e_entry); a bzImage's protected-mode part is loaded at 1 MiB
/// and entered at +0x200, where it decompresses itself.
public enum LinuxBootLoader {
    static let bzImageLoadAddress: UInt64 = 0x100000

    public static func load(kernel: [UInt8], initrd: [UInt8]?, commandLine: String,
                            into memory: GuestMemory) throws -> BootPlan {
        guard memory.size >= 0x200000 + 0x100000 else { throw BootError.memoryTooSmall(needed: 3 << 20) }
        var zeroPage: ZeroPageBuilder
        let entry: UInt64
        let kernelEnd: UInt64
        let kind: String
        switch ImageFormat.detect(kernel) {
        case .elf64:
            let image = try ELFImage(parsing: kernel)
            try image.load(kernel, into: memory, lowestAddress: LowMemory.reservedEnd)
            zeroPage = ZeroPageBuilder(setupHeader: nil)
            entry = image.entry
            kernelEnd = image.end
            kind = "ELF vmlinux"
        case .bzImage:
            let reader = ByteReader(bytes: kernel)
            let version = try reader.u16(UInt64(ZeroPage.version), "the setup header")
            guard version >= ZeroPage.minimumVersion else { throw BootError.unsupportedProtocol(version) }
            guard try reader.u16(UInt64(ZeroPage.xloadFlags), "the setup header") & ZeroPage.xlfKernel64 != 0 else {
                throw BootError.invalidBzImage("the kernel has no 64-bit entry point (XLF_KERNEL_64 is clear)")
            }
            var setupSectors = UInt64(try reader.u8(UInt64(ZeroPage.setupSects), "the setup header"))
            if setupSectors == 0 { setupSectors = 4 }
            let setupSize = (setupSectors + 1) * 512
            guard UInt64(kernel.count) > setupSize else { throw BootError.truncated("the protected-mode kernel") }
            let payload = kernel[Int(setupSize)...]
            guard memory.contains(GuestAddress(bzImageLoadAddress), length: payload.count) else {
                throw BootError.imageTooLarge(size: payload.count, limit: memory.size - bzImageLoadAddress)
            }
            try memory.write(payload, at: GuestAddress(bzImageLoadAddress))
            zeroPage = ZeroPageBuilder(setupHeader: kernel[ZeroPage.setupSects..<min(kernel.count, ZeroPage.headerEnd)])
            entry = bzImageLoadAddress + 0x200
            kernelEnd = bzImageLoadAddress + UInt64(payload.count)
            kind = "bzImage (protocol \(version >> 8).\(String(format2: version & 0xFF)))"
        case .elf32, .flat:
            throw BootError.unrecognizedFormat
        }

        let limit = Int(zeroPage.get32(ZeroPage.commandLineSize))
        let commandBytes = Array(commandLine.utf8)
        guard commandBytes.count <= limit, commandBytes.count < 0x1000 else {
            throw BootError.commandLineTooLong(length: commandBytes.count, limit: min(limit, 0xFFF))
        }
        try memory.write(commandBytes + [0], at: GuestAddress(LowMemory.commandLine))
        zeroPage.setCommandLine(address: UInt32(LowMemory.commandLine))

        var summary = "\(kind), entry 0x\(String(entry, radix: 16))"
        if let initrd, !initrd.isEmpty {
            let address = try placeInitrd(initrd, above: kernelEnd, addressMax: UInt64(zeroPage.get32(ZeroPage.initrdAddressMax)),
                                          memory: memory)
            zeroPage.setInitrd(address: UInt32(address), size: UInt32(initrd.count))
            summary += ", initrd \(initrd.count >> 10) KiB at 0x\(String(address, radix: 16))"
        }
        zeroPage.setMemoryMap(E820Entry.map(memorySize: memory.size))
        try memory.write(zeroPage.bytes, at: GuestAddress(LowMemory.bootParams))

        var (registers, special) = try EntryState.longMode(entry: entry, stack: 0, memory: memory, layout: .linux)
        registers.rsi = LowMemory.bootParams
        return BootPlan(registers: registers, specialRegisters: special, summary: summary)
    }

    /// Puts the initrd page-aligned as high as allowed: below the end of RAM and the kernel's initrd_addr_max,
    /// above the kernel image.
    static func placeInitrd(_ initrd: [UInt8], above kernelEnd: UInt64, addressMax: UInt64,
                            memory: GuestMemory) throws -> UInt64 {
        let top = min(memory.size, addressMax &+ 1, 0x1_0000_0000)
        let size = UInt64(initrd.count)
        let floor = (kernelEnd + 0xFFF) & ~0xFFF
        guard size <= top, (top - size) & ~0xFFF >= floor else {
            throw BootError.initrdTooLarge(size: initrd.count, room: top > floor ? top - floor : 0)
        }
        let address = (top - size) & ~0xFFF
        try memory.write(initrd, at: GuestAddress(address))
        return address
    }
}
