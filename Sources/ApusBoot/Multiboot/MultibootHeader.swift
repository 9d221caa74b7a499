/// The Multiboot (version 1) header a kernel carries in its first 8 KiB, 32-bit aligned: magic, flags, checksum and,
/// with flag bit 16, the addresses to load a non-ELF image at (the "a.out kludge").
public struct MultibootHeader: Sendable, Equatable {
    public static let magic: UInt32 = 0x1BAD_B002
    /// What the loader leaves in EAX for the kernel.
    public static let bootloaderMagic: UInt32 = 0x2BAD_B002
    /// The header must start within this many bytes of the file.
    public static let searchLimit = 8192

    /// Flag bits 0-15 are requirements a loader must meet or refuse the image; 16-31 are optional features.
    public struct Flags: OptionSet, Sendable, Equatable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        /// Modules must start on 4 KiB boundaries (Apus always aligns them so).
        public static let pageAlignModules = Flags(rawValue: 1 << 0)
        /// mem_lower, mem_upper and the memory map must be given (Apus always gives them).
        public static let memoryInformation = Flags(rawValue: 1 << 1)
        /// A video mode table is wanted; Apus has no display and leaves the video fields out, as QEMU does.
        public static let videoMode = Flags(rawValue: 1 << 2)
        /// The address fields are valid: load by them rather than by ELF program headers.
        public static let addressFields = Flags(rawValue: 1 << 16)
        /// The requirements Apus meets; any other bit in 0-15 makes the image unbootable here.
        static let supportedRequirements: Flags = [.pageAlignModules, .memoryInformation, .videoMode]
    }

    /// Where to load an image whose header has flag bit 16 (all physical addresses).
    public struct Addresses: Sendable, Equatable {
        /// Where the header's magic ends up; ties file offsets to addresses.
        public var header: UInt32
        /// The first byte loaded.
        public var load: UInt32
        /// One past the last byte loaded from the file; 0 means the rest of the file.
        public var loadEnd: UInt32
        /// One past the end of the zeroed BSS after the loaded part; 0 means none.
        public var bssEnd: UInt32
        public var entry: UInt32
    }

    /// Byte offset of the magic in the file.
    public var offset: Int
    public var flags: Flags
    public var addresses: Addresses?

    /// The first valid header in the image's first 8 KiB (magic, and a checksum making the three words sum to
    /// zero); nil when there is none, so the image is not a Multiboot kernel.
    public static func find(in bytes: [UInt8]) -> MultibootHeader? {
        let reader = ByteReader(bytes: bytes)
        let end = min(bytes.count, searchLimit)
        var offset = 0
        while offset + 12 <= end {
            defer { offset += 4 }
            guard let word = try? reader.u32(UInt64(offset), "the Multiboot magic"), word == magic,
                  let flags = try? reader.u32(UInt64(offset + 4), "the Multiboot flags"),
                  let checksum = try? reader.u32(UInt64(offset + 8), "the Multiboot checksum"),
                  magic &+ flags &+ checksum == 0 else { continue }
            var header = MultibootHeader(offset: offset, flags: Flags(rawValue: flags), addresses: nil)
            if header.flags.contains(.addressFields) {
                let fields = (0..<5).map { try? reader.u32(UInt64(offset + 12 + 4 * $0), "the Multiboot address fields") }
                // A header whose address fields run past the file is reported by the loader, which needs them.
                if fields.allSatisfy({ $0 != nil }) {
                    header.addresses = Addresses(header: fields[0]!, load: fields[1]!, loadEnd: fields[2]!,
                                                 bssEnd: fields[3]!, entry: fields[4]!)
                }
            }
            return header
        }
        return nil
    }

    /// Requirement bits (0-15) this loader does not know.
    var unsupportedRequirements: UInt32 { flags.rawValue & 0xFFFF & ~Flags.supportedRequirements.rawValue }
}
