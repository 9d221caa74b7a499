import ApusBoot
import ApusCore
import Testing

@Suite struct BootErrorTests {
    static let samples: [BootError] = [
        .emptyImage, .truncated(what: "the ELF header", needed: 64, fileSize: 40), .imageTooLarge(size: 9, limit: 8),
        .memoryTooSmall(what: "the kernel", needed: 0x437_8000, available: 64 << 20), .linuxKernelAsGuestImage,
        .notELF, .unsupportedELFClass(3), .unsupportedByteOrder(2), .unsupportedELFVersion(0),
        .notExecutable(type: 3), .wrongMachine(found: 3, expected: 62),
        .badHeaderSize(what: "program header", found: 32, expected: 56), .badProgramHeaderCount(0),
        .badProgramHeaderCount(0xFFFF), .noLoadableSegments,
        .segmentFileSizeExceedsMemorySize(address: 0x100000, fileSize: 4, memorySize: 2),
        .segmentAddressOverflow(address: 0x100000, size: .max),
        .overlappingSegments(GuestRange(start: GuestAddress(0x100000), size: 0x2000),
                             GuestRange(start: GuestAddress(0x101000), size: 0x10)),
        .entryOutsideSegments(entry: 0x102000), .entryNotMapped(entry: 0x1_0000_0000),
        .segmentOutsideMemory(address: 0x3FF000, size: 0x2000, memorySize: 4 << 20),
        .segmentInReservedArea(address: 0x9000, reservedEnd: 0x100000), .notALinuxKernel(.flat),
        .notALinuxKernel(.elf32), .invalidBzImage("it is a zImage"), .unsupportedProtocol(0x0205), .no64BitEntry,
        .commandLineTooLong(length: 300, limit: 255), .commandLineContainsNUL,
        .initrdTooLarge(size: 6 << 20, room: 5 << 20), .memoryMapTooLarge(entries: 130),
    ]

    @Test(arguments: samples)
    func eachDescriptionIsOneSentence(error: BootError) {
        let text = error.description
        #expect(!text.isEmpty && !text.contains("\n") && !text.hasSuffix("."))
        #expect(text.first?.isLowercase == true, "descriptions continue a sentence such as \"cannot boot: ...\"")
    }

    @Test func descriptionsNameWhatToFix() {
        #expect(BootError.memoryTooSmall(what: "the kernel", needed: 0x437_8000, available: 64 << 20).description
                == "guest memory (64.0 MiB) is too small for the kernel, which needs RAM up to 0x4378000; "
                + "give the machine at least 68.0 MiB")
        #expect(BootError.unsupportedProtocol(0x0205).description
                == "the kernel speaks boot protocol 2.05, but the 64-bit entry needs 2.06 or later")
        #expect(BootError.truncated(what: "the ELF header", needed: 64, fileSize: 40).description
                == "the image is truncated: the ELF header extends to byte 64 but the file has 40 bytes")
        #expect(BootError.initrdTooLarge(size: 6 << 20, room: 5 << 20).description
                == "the initrd is 6.0 MiB but only 5.0 MiB of guest memory is free for it above the kernel; "
                + "give the machine more memory")
        #expect(BootError.segmentInReservedArea(address: 0x9000, reservedEnd: 0x100000).description
                .contains("lies below 0x100000"))
    }
}
