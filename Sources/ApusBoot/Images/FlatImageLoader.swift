public import ApusCore

/// A flat binary: copied to 0x8000 and entered in real mode at 0000:8000 with SP = 0x7000 (docs/GUEST-ABI.md).
public enum FlatImageLoader {
    public static func load(_ bytes: [UInt8], into memory: GuestMemory) throws -> BootPlan {
        guard !bytes.isEmpty else { throw BootError.emptyImage }
        let room = LowMemory.flatImageLimit - LowMemory.flatImageBase
        guard UInt64(bytes.count) <= room else { throw BootError.imageTooLarge(size: bytes.count, limit: room) }
        // The real-mode IVT, the stack below 0x7000 and the image must all be RAM.
        try memory.require(0, size: LowMemory.flatImageBase + UInt64(bytes.count), for: "a flat image at 0x8000")
        try memory.place(bytes, at: LowMemory.flatImageBase, what: "the flat image")
        let (registers, special) = EntryState.realMode(segment: 0, ip: UInt16(LowMemory.flatImageBase),
                                                       sp: LowMemory.realModeStack)
        return BootPlan(registers: registers, specialRegisters: special,
                        summary: "flat image, \(formatBytes(UInt64(bytes.count))) at 0x8000, real mode, entry 0000:8000")
    }
}
