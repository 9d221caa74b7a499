public import ApusCore

/// Loads one of our guest images per docs/GUEST-ABI.md: a flat binary in real mode, ELF32 in protected mode, ELF64
/// in long mode. `apus run IMAGE` uses this.
public enum GuestImageLoader {
    public static func load(_ bytes: [UInt8], into memory: GuestMemory) throws -> BootPlan {
        switch ImageFormat.detect(bytes) {
        case .flat:
            return try loadFlat(bytes, into: memory)
        case .elf32, .elf64:
            let image = try ELFImage(parsing: bytes)
            try image.load(bytes, into: memory, lowestAddress: LowMemory.reservedEnd)
            let (registers, special) = image.is64Bit
                ? try EntryState.longMode(entry: image.entry, stack: LowMemory.protectedModeStack, memory: memory)
                : try EntryState.protectedMode(entry: image.entry, stack: LowMemory.protectedModeStack, memory: memory)
            let kind = image.is64Bit ? "ELF64 guest, long mode" : "ELF32 guest, protected mode"
            return BootPlan(registers: registers, specialRegisters: special,
                            summary: "\(kind), entry 0x\(String(image.entry, radix: 16))")
        case .bzImage:
            throw BootError.unsupportedMachine("a Linux bzImage; boot it with --kernel")
        }
    }

    static func loadFlat(_ bytes: [UInt8], into memory: GuestMemory) throws -> BootPlan {
        let room = LowMemory.flatImageLimit - LowMemory.flatImageBase
        guard !bytes.isEmpty else { throw BootError.truncated("the image (it is empty)") }
        guard UInt64(bytes.count) <= room else { throw BootError.imageTooLarge(size: bytes.count, limit: room) }
        guard memory.contains(GuestAddress(LowMemory.flatImageBase), length: bytes.count) else {
            throw BootError.memoryTooSmall(needed: LowMemory.flatImageLimit)
        }
        try memory.write(bytes, at: GuestAddress(LowMemory.flatImageBase))
        let (registers, special) = EntryState.realMode(ip: UInt16(LowMemory.flatImageBase),
                                                       sp: UInt16(LowMemory.realModeStack))
        return BootPlan(registers: registers, specialRegisters: special,
                        summary: "flat guest, real mode, \(bytes.count) bytes at 0x8000")
    }
}
