public import ApusCore

/// A parsed and validated ELF executable: class, entry point and loadable segments.
///
/// Everything is checked against the file before anything touches guest memory: header fields, the program header
/// table's bounds, each segment's file range, sizes and address arithmetic, and that segments neither overlap nor
/// leave the entry point outside them. Section headers are not needed and not read.
public struct ELFImage: Sendable {
    public enum Class: Sendable, Equatable {
        case elf32
        case elf64
    }

    /// One PT_LOAD segment with a non-zero memory size, placed at its physical address (p_paddr).
    public struct Segment: Sendable, Equatable {
        public var physicalAddress: UInt64
        public var fileOffset: UInt64
        public var fileSize: UInt64
        public var memorySize: UInt64

        public init(physicalAddress: UInt64, fileOffset: UInt64, fileSize: UInt64, memorySize: UInt64) {
            self.physicalAddress = physicalAddress
            self.fileOffset = fileOffset
            self.fileSize = fileSize
            self.memorySize = memorySize
        }

        public var range: GuestRange { GuestRange(start: GuestAddress(physicalAddress), size: memorySize) }
        /// One past the last byte; parsing guarantees it does not overflow.
        public var end: UInt64 { physicalAddress + memorySize }
    }

    public let elfClass: Class
    public let entry: UInt64
    /// Sorted by physical address.
    public let segments: [Segment]
    let bytes: [UInt8]

    public var is64Bit: Bool { elfClass == .elf64 }
    /// One past the highest byte any segment occupies.
    public var end: UInt64 { segments.last?.end ?? 0 }

    public init(parsing bytes: [UInt8]) throws {
        let magicLength = min(bytes.count, ELFConstants.magic.count)
        guard bytes.prefix(magicLength).elementsEqual(ELFConstants.magic.prefix(magicLength)), !bytes.isEmpty else {
            throw bytes.isEmpty ? BootError.emptyImage : BootError.notELF
        }
        let reader = ByteReader(bytes: bytes)
        let identification = try reader.slice(0, count: 16, "the ELF identification")
        let elfClass: Class
        switch identification[4] {
        case ELFConstants.class32: elfClass = .elf32
        case ELFConstants.class64: elfClass = .elf64
        default: throw BootError.unsupportedELFClass(identification[4])
        }
        guard identification[5] == ELFConstants.littleEndian else {
            throw BootError.unsupportedByteOrder(identification[5])
        }
        guard identification[6] == ELFConstants.currentVersion else {
            throw BootError.unsupportedELFVersion(UInt32(identification[6]))
        }
        let layout = elfClass == .elf64 ? ELFConstants.layout64 : ELFConstants.layout32
        _ = try reader.slice(0, count: UInt64(layout.headerSize), "the ELF header")

        let type = try reader.u16(16, "e_type")
        guard type == ELFConstants.executable else { throw BootError.notExecutable(type: type) }
        let machine = try reader.u16(18, "e_machine")
        guard machine == layout.machine else { throw BootError.wrongMachine(found: machine, expected: layout.machine) }
        let version = try reader.u32(20, "e_version")
        guard version == UInt32(ELFConstants.currentVersion) else { throw BootError.unsupportedELFVersion(version) }
        let headerSize = try reader.u16(layout.headerSizeField, "e_ehsize")
        guard headerSize == layout.headerSize else {
            throw BootError.badHeaderSize(what: "ELF header", found: headerSize, expected: layout.headerSize)
        }
        let entrySize = try reader.u16(layout.programHeaderSizeField, "e_phentsize")
        guard entrySize == layout.programHeaderSize else {
            throw BootError.badHeaderSize(what: "program header", found: entrySize, expected: layout.programHeaderSize)
        }
        let count = try reader.u16(layout.programHeaderCountField, "e_phnum")
        guard count != 0, count != ELFConstants.extendedNumbering else { throw BootError.badProgramHeaderCount(count) }

        func address(_ offset: UInt64, _ what: String) throws -> UInt64 {
            layout.addressSize == 8 ? try reader.u64(offset, what) : UInt64(try reader.u32(offset, what))
        }
        let tableOffset = try address(layout.programHeaderOffset, "e_phoff")
        // At most 65534 × 56 bytes: the product cannot overflow.
        _ = try reader.slice(tableOffset, count: UInt64(count) * UInt64(entrySize), "the program header table")

        var segments: [Segment] = []
        for index in 0..<UInt64(count) {
            let header = tableOffset + index * UInt64(entrySize)
            guard try reader.u32(header + layout.type, "p_type") == ELFConstants.programLoad else { continue }
            let segment = Segment(physicalAddress: try address(header + layout.physicalAddress, "p_paddr"),
                                  fileOffset: try address(header + layout.offset, "p_offset"),
                                  fileSize: try address(header + layout.fileSize, "p_filesz"),
                                  memorySize: try address(header + layout.memorySize, "p_memsz"))
            try Self.validate(segment, index: index, elfClass: elfClass, reader: reader)
            if segment.memorySize > 0 { segments.append(segment) }
        }
        guard !segments.isEmpty else { throw BootError.noLoadableSegments }
        segments.sort { $0.physicalAddress < $1.physicalAddress }
        // Sorted by start, any overlap shows up between neighbours.
        for (lower, upper) in zip(segments, segments.dropFirst()) where lower.end > upper.physicalAddress {
            throw BootError.overlappingSegments(lower.range, upper.range)
        }
        let entry = try address(layout.entry, "e_entry")
        guard segments.contains(where: { $0.physicalAddress <= entry && entry < $0.end }) else {
            throw BootError.entryOutsideSegments(entry: entry)
        }
        self.elfClass = elfClass
        self.entry = entry
        self.segments = segments
        self.bytes = bytes
    }

    private static func validate(_ segment: Segment, index: UInt64, elfClass: Class, reader: ByteReader) throws {
        guard segment.fileSize <= segment.memorySize else {
            throw BootError.segmentFileSizeExceedsMemorySize(address: segment.physicalAddress,
                                                             fileSize: segment.fileSize, memorySize: segment.memorySize)
        }
        let (end, overflow) = segment.physicalAddress.addingReportingOverflow(segment.memorySize)
        // A 32-bit image is entered without paging: nothing above 4 GiB is reachable.
        guard !overflow, elfClass == .elf64 || end <= 1 << 32 else {
            throw BootError.segmentAddressOverflow(address: segment.physicalAddress, size: segment.memorySize)
        }
        _ = try reader.slice(segment.fileOffset, count: segment.fileSize, "the contents of program header \(index)")
    }
}
