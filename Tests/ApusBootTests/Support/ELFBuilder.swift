/// Builds small ELF files byte by byte, so loader tests control every field (and can break any of them).
/// Layout: ELF header, program header table right after it, then each segment's contents in order.
struct ELFBuilder {
    struct Segment {
        var type: UInt32 = 1                    // PT_LOAD
        var physicalAddress: UInt64
        var contents: [UInt8]
        var memorySize: UInt64
    }

    var is64Bit = true
    var entry: UInt64 = 0x100000
    var segments = [
        Segment(physicalAddress: 0x100000, contents: [0xF4, 0x90, 0x90, 0x90], memorySize: 0x2000),
    ]

    var headerSize: Int { is64Bit ? 64 : 52 }
    var programHeaderSize: Int { is64Bit ? 56 : 32 }
    /// Offset of program header `index` in the built file.
    func programHeader(_ index: Int) -> Int { headerSize + index * programHeaderSize }
    /// Field offsets inside a program header.
    var offsetField: Int { is64Bit ? 8 : 4 }
    var paddrField: Int { is64Bit ? 24 : 12 }
    var fileSizeField: Int { is64Bit ? 32 : 16 }
    var memorySizeField: Int { is64Bit ? 40 : 20 }
    var word: Int { is64Bit ? 8 : 4 }

    func build() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: headerSize + programHeaderSize * segments.count)
        bytes[0...3] = [0x7F, 0x45, 0x4C, 0x46]
        bytes[4] = is64Bit ? 2 : 1              // class
        bytes[5] = 1                            // little-endian
        bytes[6] = 1                            // EV_CURRENT
        put(&bytes, 16, 2, 2)                   // ET_EXEC
        put(&bytes, 18, is64Bit ? 62 : 3, 2)
        put(&bytes, 20, 1, 4)
        put(&bytes, 24, entry, word)
        put(&bytes, 24 + word, UInt64(headerSize), word)                 // e_phoff
        let tail = 24 + 3 * word + 4                                        // after e_shoff and e_flags
        put(&bytes, tail, UInt64(headerSize), 2)                            // e_ehsize
        put(&bytes, tail + 2, UInt64(programHeaderSize), 2)                 // e_phentsize
        put(&bytes, tail + 4, UInt64(segments.count), 2)                    // e_phnum
        for (index, segment) in segments.enumerated() {
            let header = programHeader(index)
            put(&bytes, header, UInt64(segment.type), 4)
            put(&bytes, header + offsetField, UInt64(bytes.count), word)
            put(&bytes, header + paddrField - word, segment.physicalAddress, word)   // p_vaddr
            put(&bytes, header + paddrField, segment.physicalAddress, word)
            put(&bytes, header + fileSizeField, UInt64(segment.contents.count), word)
            put(&bytes, header + memorySizeField, segment.memorySize, word)
            bytes += segment.contents
        }
        return bytes
    }
}
