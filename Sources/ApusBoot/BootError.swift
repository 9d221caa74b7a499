public import ApusCore

/// Why an image could not be loaded. Each description is one sentence that names the problem and, where it helps,
/// what to do about it.
public enum BootError: Error, Equatable, Sendable, CustomStringConvertible {
    // Any image.
    case emptyImage
    /// `what` needs the file to extend to byte `needed`, but it has only `fileSize` bytes.
    case truncated(what: String, needed: UInt64, fileSize: Int)
    case imageTooLarge(size: Int, limit: UInt64)
    /// Guest memory cannot hold `what`, which must cover RAM up to `needed`.
    case memoryTooSmall(what: String, needed: UInt64, available: UInt64)
    case linuxKernelAsGuestImage

    // ELF.
    case notELF
    case unsupportedELFClass(UInt8)
    case unsupportedByteOrder(UInt8)
    case unsupportedELFVersion(UInt32)
    case notExecutable(type: UInt16)
    case wrongMachine(found: UInt16, expected: UInt16)
    case badHeaderSize(what: String, found: UInt16, expected: UInt16)
    case badProgramHeaderCount(UInt16)
    case noLoadableSegments
    case segmentFileSizeExceedsMemorySize(address: UInt64, fileSize: UInt64, memorySize: UInt64)
    case segmentAddressOverflow(address: UInt64, size: UInt64)
    case overlappingSegments(GuestRange, GuestRange)
    case entryOutsideSegments(entry: UInt64)
    /// A long-mode entry point outside the 4 GiB the entry page tables identity-map.
    case entryNotMapped(entry: UInt64)
    case segmentOutsideMemory(address: UInt64, size: UInt64, memorySize: UInt64)
    case segmentInReservedArea(address: UInt64, reservedEnd: UInt64)

    // Linux.
    case notALinuxKernel(ImageFormat)
    case invalidBzImage(String)
    case unsupportedProtocol(UInt16)
    case no64BitEntry
    case commandLineTooLong(length: Int, limit: Int)
    case commandLineContainsNUL
    case initrdTooLarge(size: Int, room: UInt64)
    case memoryMapTooLarge(entries: Int)
    case invalidACPIPlatform(String)

    // Multiboot.
    case notMultiboot
    case multibootUnsupportedRequirements(UInt32)
    case multibootNeedsAddressFields
    case multibootAbove4GiB(address: UInt64)
    case invalidMultibootAddresses(String)
    case tooManyMultibootModules(count: Int, limit: Int)
    case multibootInfoTooLarge(bytes: Int, room: Int)
    case multibootOptionsNeedMultiboot

    public var description: String {
        switch self {
        case .invalidACPIPlatform(let reason):
            return "cannot build the ACPI tables: \(reason)"
        case .emptyImage:
            return "the image file is empty"
        case .truncated(let what, let needed, let fileSize):
            let end = needed == .max ? "past any possible end" : "to byte \(needed)"
            return "the image is truncated: \(what) extends \(end) but the file has \(fileSize) bytes"
        case .imageTooLarge(let size, let limit):
            return "the image is \(size) bytes but at most \(limit) bytes fit where it loads"
        case .memoryTooSmall(let what, let needed, let available):
            return "guest memory (\(formatBytes(available))) is too small for \(what), which needs RAM up to "
                + "\(hex(needed)); give the machine at least \(formatBytes(roundUpToMiB(needed)))"
        case .linuxKernelAsGuestImage:
            return "this is a Linux bzImage, not a guest image; boot it with --kernel"
        case .notELF:
            return "the file does not start with the ELF magic 7F 45 4C 46"
        case .unsupportedELFClass(let value):
            return "the ELF class \(value) is neither 32-bit (1) nor 64-bit (2)"
        case .unsupportedByteOrder(let value):
            return "the ELF data encoding \(value) is not little-endian (1), which x86 requires"
        case .unsupportedELFVersion(let value):
            return "the ELF version \(value) is not the current version (1)"
        case .notExecutable(let type):
            return "the ELF type \(type) is not an executable (ET_EXEC, 2); link the image with -static at a fixed address"
        case .wrongMachine(let found, let expected):
            return "the ELF machine \(found) does not match this ELF class, which needs \(machineName(expected))"
        case .badHeaderSize(let what, let found, let expected):
            return "the \(what) size field says \(found) bytes where this ELF class uses \(expected)"
        case .badProgramHeaderCount(let count):
            return count == 0
                ? "the ELF file has no program headers, so nothing can be loaded"
                : "the ELF file declares \(count) program headers, an extended count Apus does not read"
        case .noLoadableSegments:
            return "the ELF file has no loadable (PT_LOAD) segment with contents"
        case .segmentFileSizeExceedsMemorySize(let address, let fileSize, let memorySize):
            return "the segment at \(hex(address)) has \(fileSize) bytes in the file but only \(memorySize) in memory"
        case .segmentAddressOverflow(let address, let size):
            return "the segment at \(hex(address)) of \(size) bytes runs past the end of the address space"
        case .overlappingSegments(let first, let second):
            return "the segments at \(first) and \(second) overlap"
        case .entryOutsideSegments(let entry):
            return "the entry point \(hex(entry)) is not inside any loadable segment"
        case .entryNotMapped(let entry):
            return "the entry point \(hex(entry)) lies above the first 4 GiB, which is all the entry page tables map"
        case .segmentOutsideMemory(let address, let size, let memorySize):
            return "the segment at \(hex(address)) of \(size) bytes does not fit in guest memory of "
                + "\(formatBytes(memorySize))"
        case .segmentInReservedArea(let address, let reservedEnd):
            return "the segment at \(hex(address)) lies below \(hex(reservedEnd)), where the loader keeps its own "
                + "tables; link it at \(hex(reservedEnd)) or higher (docs/GUEST-ABI.md)"
        case .notALinuxKernel(let format):
            switch format {
            case .elf32: return "the kernel is a 32-bit ELF file; Apus boots 64-bit kernels only"
            default: return "the kernel is neither an ELF64 vmlinux nor a bzImage"
            }
        case .invalidBzImage(let reason):
            return "invalid bzImage: \(reason)"
        case .unsupportedProtocol(let version):
            return "the kernel speaks boot protocol \(protocolString(version)), but the 64-bit entry needs 2.06 or later"
        case .no64BitEntry:
            return "the bzImage has no 64-bit entry point (XLF_KERNEL_64 is clear in xloadflags)"
        case .commandLineTooLong(let length, let limit):
            return "the kernel command line is \(length) bytes but at most \(limit) are allowed"
        case .commandLineContainsNUL:
            return "the kernel command line contains a NUL byte, which would cut it short"
        case .initrdTooLarge(let size, let room):
            return "the initrd is \(formatBytes(UInt64(size))) but only \(formatBytes(room)) of guest memory is free "
                + "for it above the kernel; give the machine more memory"
        case .memoryMapTooLarge(let entries):
            return "guest memory needs \(entries) e820 entries but the zero page holds at most 128"
        case .notMultiboot:
            return "the image has no Multiboot header (magic 0x1BADB002 with a valid checksum) in its first 8 KiB"
        case .multibootUnsupportedRequirements(let bits):
            return "the Multiboot header requires features Apus does not provide (flag bits \(hex(UInt64(bits))) of 0-15)"
        case .multibootNeedsAddressFields:
            return "the Multiboot image is not ELF and its header has no address fields (flag bit 16), so there is no "
                + "way to know where it loads"
        case .multibootAbove4GiB(let address):
            return "the Multiboot kernel reaches \(hex(address)), above the 4 GiB a 32-bit entry can address"
        case .invalidMultibootAddresses(let reason):
            return "invalid Multiboot address fields: \(reason)"
        case .tooManyMultibootModules(let count, let limit):
            return "\(count) Multiboot modules given but at most \(limit) fit the module list"
        case .multibootInfoTooLarge(let bytes, let room):
            return "the Multiboot command line and module strings need \(bytes) bytes but only \(room) fit below 1 MiB"
        case .multibootOptionsNeedMultiboot:
            return "a command line and modules can be given only to a Linux kernel or a Multiboot image, and this image "
                + "has no Multiboot header"
        }
    }
}

private func machineName(_ machine: UInt16) -> String {
    machine == ELFConstants.machineX86_64 ? "x86-64 (EM_X86_64, 62)" : "i386 (EM_386, 3)"
}

private func roundUpToMiB(_ bytes: UInt64) -> UInt64 {
    let mebibyte: UInt64 = 1 << 20
    return bytes > UInt64.max - mebibyte ? bytes : (bytes + mebibyte - 1) & ~(mebibyte - 1)
}
