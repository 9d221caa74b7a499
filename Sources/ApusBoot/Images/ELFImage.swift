/// A parsed and validated ELF executable: its class, entry point and loadable segments.
/// Only what Apus needs is read (the program headers); section headers are ignored.
public struct ELFImage: Sendable, Equatable {
    public struct Segment: Sendable, Equatable {
        public var physicalAddress: UInt64
        public var fileOffset: UInt64
        public var fileSize: UInt64
        public var memorySize: UInt64
    }

    public var is64Bit: Bool
    public var entry: UInt64
    public var segments: [Segment]

    static let loadType: UInt32 = 1
    static let machineI386: UInt16 = 3
    static let machineX86_64: UInt16 = 62

    /// Parses `bytes`, checking every header field and every offset against the file before anything is loaded.
    public init(parsing bytes: [UInt8]) throws {
        let reader = ByteReader(bytes: bytes)
        guard bytes.count >= 16, bytes[0...3].elementsEqual([0x7F, 0x45, 0x4C, 0x46]) else {
            throw bytes.count < 16 ? BootError.truncated("the ELF identification") : BootError.unrecognizedFormat
        }
        guard bytes[4] == 1 || bytes[4] == 2 else { throw BootError.invalidELF("unknown class \(bytes[4])") }
        guard bytes[5] == 1 else { throw BootError.unsupportedMachine("big-endian ELF; x86 is little-endian") }
        guard bytes[6] == 1 else { throw BootError.invalidELF("unknown ELF version \(bytes[6])") }
        is64Bit = bytes[4] == 2

        let type = try reader.u16(16, "the ELF header")
        guard type == 2 else { throw BootError.invalidELF("type \(type) is not an executable (ET_EXEC)") }
        let machine = try reader.u16(18, "the ELF header")
        let expectedMachine = is64Bit ? Self.machineX86_64 : Self.machineI386
        guard machine == expectedMachine else {
            throw BootError.unsupportedMachine("ELF machine \(machine); expected \(is64Bit ? "x86-64 (62)" : "i386 (3)")")
        }
        let phoff, phentsize, phnum: UInt64
        if is64Bit {
            entry = try reader.u64(24, "the ELF header")
            phoff = try reader.u64(32, "the ELF header")
            phentsize = UInt64(try reader.u16(54, "the ELF header"))
            phnum = UInt64(try reader.u16(56, "the ELF header"))
        } else {
            entry = UInt64(try reader.u32(24, "the ELF header"))
            phoff = UInt64(try reader.u32(28, "the ELF header"))
            phentsize = UInt64(try reader.u16(42, "the ELF header"))
            phnum = UInt64(try reader.u16(44, "the ELF header"))
        }
        let minimumEntrySize: UInt64 = is64Bit ? 56 : 32
        guard phentsize >= minimumEntrySize else {
            throw BootError.invalidELF("program header entries of \(phentsize) bytes are too small")
        }
        guard phnum > 0 else { throw BootError.invalidELF("it has no program headers") }
        _ = try reader.slice(phoff, count: phentsize * phnum, "the program header table")

        var segments: [Segment] = []
        for index in 0..<phnum {
            let base = phoff + index * phentsize
            guard try reader.u32(base, "a program header") == Self.loadType else { continue }
            let segment: Segment
            if is64Bit {
                segment = Segment(physicalAddress: try reader.u64(base + 24, "a program header"),
                                  fileOffset: try reader.u64(base + 8, "a program header"),
                                  fileSize: try reader.u64(base + 32, "a program header"),
                                  memorySize: try reader.u64(base + 40, "a program header"))
            } else {
                segment = Segment(physicalAddress: UInt64(try reader.u32(base + 12, "a program header")),
                                  fileOffset: UInt64(try reader.u32(base + 4, "a program header")),
                                  fileSize: UInt64(try reader.u32(base + 16, "a program header")),
                                  memorySize: UInt64(try reader.u32(base + 20, "a program header")))
            }
            guard segment.fileSize <= segment.memorySize else {
                throw BootError.invalidELF("a segment's file size exceeds its memory size")
            }
            guard segment.physicalAddress.addingReportingOverflow(segment.memorySize).overflow == false else {
                throw BootError.segmentOutsideMemory(address: segment.physicalAddress, size: segment.memorySize)
            }
            _ = try reader.slice(segment.fileOffset, count: segment.fileSize, "a segment's contents")
            segments.append(segment)
        }
        guard !segments.isEmpty else { throw BootError.invalidELF("it has no loadable (PT_LOAD) segments") }
        let sorted = segments.sorted { $0.physicalAddress < $1.physicalAddress }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.physicalAddress + a.memorySize > b.physicalAddress {
            throw BootError.overlappingSegments(a.physicalAddress, b.physicalAddress)
        }
        self.segments = sorted
    }

    /// Copies every segment to its physical address and zeroes the rest of its memory size (the BSS).
    /// Segments must lie inside RAM and at or above `lowestAddress`.
    public func load(_ bytes: [UInt8], into memory: GuestMemory, lowestAddress: UInt64) throws {
        for segment in segments {
            guard segment.physicalAddress >= lowestAddress else {
                throw BootError.segmentInReservedArea(address: segment.physicalAddress)
            }
            guard memory.contains(GuestAddress(segment.physicalAddress), length: Int(clamping: segment.memorySize)) else {
                throw BootError.segmentOutsideMemory(address: segment.physicalAddress, size: segment.memorySize)
            }
        }
        for segment in segments {
            let contents = bytes[Int(segment.fileOffset)..<Int(segment.fileOffset + segment.fileSize)]
            try memory.write(contents, at: GuestAddress(segment.physicalAddress))
            try memory.fill(0, at: GuestAddress(segment.physicalAddress + segment.fileSize),
                            count: Int(segment.memorySize - segment.fileSize))
        }
    }

    /// One past the highest byte any segment occupies.
    public var end: UInt64 { segments.map { $0.physicalAddress + $0.memorySize }.max() ?? 0 }
}

public import ApusCore
