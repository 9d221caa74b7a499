/// Builds small ELF files byte by byte, so loader tests control every field (and can break any of them).
struct ELFBuilder {
    struct Segment {
        var physicalAddress: UInt64
        var contents: [UInt8]
        var memorySize: UInt64
    }

    var is64Bit = true
    var entry: UInt64 = 0x100000
    var segments = [Segment(physicalAddress: 0x100000, contents: [0xF4, 0x90, 0x90, 0x90], memorySize: 0x2000)]

    func build() -> [UInt8] {
        let headerSize = is64Bit ? 64 : 52
        let entrySize = is64Bit ? 56 : 32
        var bytes = [UInt8](repeating: 0, count: headerSize + entrySize * segments.count)
        bytes[0...3] = [0x7F, 0x45, 0x4C, 0x46]
        bytes[4] = is64Bit ? 2 : 1
        bytes[5] = 1
        bytes[6] = 1
        put(&bytes, 16, 2, 2)                            // ET_EXEC
        put(&bytes, 18, is64Bit ? 62 : 3, 2)
        put(&bytes, 20, 1, 4)
        if is64Bit {
            put(&bytes, 24, entry, 8); put(&bytes, 32, 64, 8)
            put(&bytes, 52, 64, 2); put(&bytes, 54, 56, 2); put(&bytes, 56, UInt64(segments.count), 2)
        } else {
            put(&bytes, 24, entry, 4); put(&bytes, 28, 52, 4)
            put(&bytes, 40, 52, 2); put(&bytes, 42, 32, 2); put(&bytes, 44, UInt64(segments.count), 2)
        }
        for (index, segment) in segments.enumerated() {
            let header = headerSize + index * entrySize
            let offset = UInt64(bytes.count)
            put(&bytes, header, 1, 4)                    // PT_LOAD
            if is64Bit {
                put(&bytes, header + 8, offset, 8)
                put(&bytes, header + 16, segment.physicalAddress, 8)
                put(&bytes, header + 24, segment.physicalAddress, 8)
                put(&bytes, header + 32, UInt64(segment.contents.count), 8)
                put(&bytes, header + 40, segment.memorySize, 8)
            } else {
                put(&bytes, header + 4, offset, 4)
                put(&bytes, header + 8, segment.physicalAddress, 4)
                put(&bytes, header + 12, segment.physicalAddress, 4)
                put(&bytes, header + 16, UInt64(segment.contents.count), 4)
                put(&bytes, header + 20, segment.memorySize, 4)
            }
            bytes += segment.contents
        }
        return bytes
    }
}

func put(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt64, _ size: Int) {
    for i in 0..<size { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
}

func get(_ bytes: [UInt8], _ offset: Int, _ size: Int) -> UInt64 {
    (0..<size).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
}
