import ApusBoot
import ApusCore
import Testing

@Suite struct ELFParsingTests {
    @Test func parsesAValid64BitImage() throws {
        var builder = ELFBuilder()
        builder.entry = 0x200010
        builder.segments = [
            .init(physicalAddress: 0x200000, contents: [1, 2, 3], memorySize: 0x1000),
            .init(type: 4, physicalAddress: 0, contents: [9, 9], memorySize: 2),          // PT_NOTE: ignored
            .init(physicalAddress: 0x100000, contents: [4, 5], memorySize: 0x10),
        ]
        let image = try ELFImage(parsing: builder.build())
        #expect(image.elfClass == .elf64 && image.is64Bit)
        #expect(image.entry == 0x200010)
        #expect(image.segments.map(\.physicalAddress) == [0x100000, 0x200000])    // sorted
        #expect(image.segments.map(\.fileSize) == [2, 3])
        #expect(image.segments.map(\.memorySize) == [0x10, 0x1000])
        #expect(image.end == 0x201000)
    }

    @Test func parsesAValid32BitImage() throws {
        var builder = ELFBuilder()
        builder.is64Bit = false
        builder.entry = 0x100002
        let image = try ELFImage(parsing: builder.build())
        #expect(image.elfClass == .elf32)
        #expect(image.entry == 0x100002)
        #expect(image.segments == [ELFImage.Segment(physicalAddress: 0x100000, fileOffset: 84, fileSize: 4,
                                                    memorySize: 0x2000)])
    }

    /// One malformed file per check, each refused with its own error.
    @Test func malformedFilesGiveTheirOwnError() throws {
        let valid = ELFBuilder().build()
        func parse(_ bytes: [UInt8]) throws { _ = try ELFImage(parsing: bytes) }
        func mutated(_ offset: Int, _ value: UInt64, _ size: Int) -> [UInt8] {
            var bytes = valid
            put(&bytes, offset, value, size)
            return bytes
        }

        #expect(throws: BootError.emptyImage) { try parse([]) }
        #expect(throws: BootError.notELF) { try parse(mutated(1, 0x46, 1)) }
        #expect(throws: BootError.truncated(what: "the ELF identification", needed: 16, fileSize: 10)) {
            try parse(Array(valid.prefix(10)))
        }
        #expect(throws: BootError.truncated(what: "the ELF header", needed: 64, fileSize: 40)) {
            try parse(Array(valid.prefix(40)))
        }
        #expect(throws: BootError.unsupportedELFClass(3)) { try parse(mutated(4, 3, 1)) }
        #expect(throws: BootError.unsupportedByteOrder(2)) { try parse(mutated(5, 2, 1)) }
        #expect(throws: BootError.unsupportedELFVersion(0)) { try parse(mutated(6, 0, 1)) }
        #expect(throws: BootError.notExecutable(type: 3)) { try parse(mutated(16, 3, 2)) }
        #expect(throws: BootError.wrongMachine(found: 3, expected: 62)) { try parse(mutated(18, 3, 2)) }
        #expect(throws: BootError.unsupportedELFVersion(2)) { try parse(mutated(20, 2, 4)) }
        #expect(throws: BootError.badHeaderSize(what: "ELF header", found: 52, expected: 64)) {
            try parse(mutated(52, 52, 2))
        }
        #expect(throws: BootError.badHeaderSize(what: "program header", found: 32, expected: 56)) {
            try parse(mutated(54, 32, 2))
        }
        #expect(throws: BootError.badProgramHeaderCount(0)) { try parse(mutated(56, 0, 2)) }
        #expect(throws: BootError.badProgramHeaderCount(0xFFFF)) { try parse(mutated(56, 0xFFFF, 2)) }
        #expect(throws: BootError.truncated(what: "the program header table", needed: 0x1_0000 + 56,
                                            fileSize: valid.count)) {
            try parse(mutated(32, 0x1_0000, 8))                                          // e_phoff past the end
        }
        #expect(throws: BootError.truncated(what: "the program header table", needed: .max, fileSize: valid.count)) {
            try parse(mutated(32, .max - 8, 8))                                          // e_phoff + size wraps
        }
        #expect(throws: BootError.truncated(what: "the contents of program header 0", needed: 0x2000 + 4,
                                            fileSize: valid.count)) {
            try parse(mutated(64 + 8, 0x2000, 8))                                        // p_offset past the end
        }
        #expect(throws: BootError.truncated(what: "the contents of program header 0", needed: 120 + 0x1000,
                                            fileSize: valid.count)) {
            try parse(mutated(64 + 32, 0x1000, 8))                                       // p_filesz past the end
        }
    }

    @Test func segmentSizesAndAddressesAreChecked() throws {
        func parse(_ builder: ELFBuilder) throws { _ = try ELFImage(parsing: builder.build()) }

        var fileBiggerThanMemory = ELFBuilder()
        fileBiggerThanMemory.segments[0].memorySize = 2
        #expect(throws: BootError.segmentFileSizeExceedsMemorySize(address: 0x100000, fileSize: 4, memorySize: 2)) {
            try parse(fileBiggerThanMemory)
        }
        var hugeMemorySize = ELFBuilder()
        hugeMemorySize.segments[0].memorySize = .max - 0x1000
        #expect(throws: BootError.segmentAddressOverflow(address: 0x100000, size: .max - 0x1000)) {
            try parse(hugeMemorySize)
        }
        var past4GiB = ELFBuilder()
        past4GiB.is64Bit = false
        past4GiB.segments[0].physicalAddress = 0xFFFF_F000
        past4GiB.segments[0].memorySize = 0x2000
        past4GiB.entry = 0xFFFF_F000
        #expect(throws: BootError.segmentAddressOverflow(address: 0xFFFF_F000, size: 0x2000)) { try parse(past4GiB) }

        var overlapping = ELFBuilder()
        overlapping.segments.append(.init(physicalAddress: 0x101000, contents: [1], memorySize: 0x10))
        #expect(throws: BootError.overlappingSegments(GuestRange(start: GuestAddress(0x100000), size: 0x2000),
                                                      GuestRange(start: GuestAddress(0x101000), size: 0x10))) {
            try parse(overlapping)
        }
        var contained = ELFBuilder()     // a segment inside another, listed first
        contained.segments.insert(.init(physicalAddress: 0x100800, contents: [], memorySize: 0x10), at: 0)
        #expect(throws: BootError.overlappingSegments(GuestRange(start: GuestAddress(0x100000), size: 0x2000),
                                                      GuestRange(start: GuestAddress(0x100800), size: 0x10))) {
            try parse(contained)
        }
        var adjacent = ELFBuilder()      // touching is not overlapping
        adjacent.segments.append(.init(physicalAddress: 0x102000, contents: [1], memorySize: 0x10))
        #expect(throws: Never.self) { try parse(adjacent) }

        var entryOutside = ELFBuilder()
        entryOutside.entry = 0x102000
        #expect(throws: BootError.entryOutsideSegments(entry: 0x102000)) { try parse(entryOutside) }
        var onlyNotes = ELFBuilder()
        onlyNotes.segments[0].type = 4
        #expect(throws: BootError.noLoadableSegments) { try parse(onlyNotes) }
        var emptyLoad = ELFBuilder()
        emptyLoad.segments[0].contents = []
        emptyLoad.segments[0].memorySize = 0
        #expect(throws: BootError.noLoadableSegments) { try parse(emptyLoad) }
    }
}
