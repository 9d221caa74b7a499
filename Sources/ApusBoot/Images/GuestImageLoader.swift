public import ApusCore

/// Loads one of our guest images per docs/GUEST-ABI.md, choosing by format: a flat binary runs in real mode, an
/// ELF32 image in 32-bit protected mode, an ELF64 image in long mode, and an image with a Multiboot header as
/// MultibootLoader describes. `apus run IMAGE` uses this.
public enum GuestImageLoader {
    /// `name` is what a Multiboot kernel finds as its command line (QEMU and GRUB give it the image's name).
    public static func load(_ bytes: [UInt8], name: String = "", into memory: GuestMemory) throws -> BootPlan {
        // A kernel made for GRUB or `qemu -kernel` is entered the Multiboot way, whatever its container format.
        if MultibootHeader.find(in: bytes) != nil {
            return try MultibootLoader.load(bytes, commandLine: name, modules: [], into: memory)
        }
        switch ImageFormat.detect(bytes) {
        case .flat:
            return try FlatImageLoader.load(bytes, into: memory)
        case .elf32, .elf64:
            return try loadELF(ELFImage(parsing: bytes), into: memory)
        case .bzImage:
            throw BootError.linuxKernelAsGuestImage
        }
    }

    static func loadELF(_ image: ELFImage, into memory: GuestMemory) throws -> BootPlan {
        if image.elfClass == .elf64 { try image.checkEntryIsMapped() }
        try image.load(into: memory, reservedBelow: LowMemory.reservedEnd)
        let registers: Registers, special: SpecialRegisters, mode: String
        switch image.elfClass {
        case .elf32:
            // Parsing kept every segment, and so the entry, below 4 GiB.
            (registers, special) = try EntryState.protectedMode(entry: UInt32(truncatingIfNeeded: image.entry),
                                                                stack: UInt32(LowMemory.protectedModeStack),
                                                                memory: memory)
            mode = "ELF32 image, protected mode"
        case .elf64:
            (registers, special) = try EntryState.longMode(entry: image.entry, stack: LowMemory.protectedModeStack,
                                                           memory: memory)
            mode = "ELF64 image, long mode"
        }
        let count = image.segments.count
        let span = "\(hex(image.segments[0].physicalAddress))-\(hex(image.end))"
        return BootPlan(registers: registers, specialRegisters: special,
                        summary: "\(mode), \(count) segment\(count == 1 ? "" : "s") at \(span), entry \(hex(image.entry))")
    }
}
