/// Why an image could not be loaded; each description is one sentence a user can act on.
public enum BootError: Error, Equatable, Sendable, CustomStringConvertible {
    case unrecognizedFormat
    case truncated(String)
    case invalidELF(String)
    case unsupportedMachine(String)
    case segmentOutsideMemory(address: UInt64, size: UInt64)
    case segmentInReservedArea(address: UInt64)
    case overlappingSegments(UInt64, UInt64)
    case imageTooLarge(size: Int, limit: UInt64)
    case invalidBzImage(String)
    case unsupportedProtocol(UInt16)
    case commandLineTooLong(length: Int, limit: Int)
    case initrdTooLarge(size: Int, room: UInt64)
    case memoryTooSmall(needed: UInt64)

    public var description: String {
        switch self {
        case .unrecognizedFormat:
            return "the file is neither an ELF image nor a Linux bzImage"
        case .truncated(let what):
            return "the image is truncated: \(what) lies past the end of the file"
        case .invalidELF(let reason):
            return "invalid ELF image: \(reason)"
        case .unsupportedMachine(let what):
            return "unsupported image: \(what)"
        case .segmentOutsideMemory(let address, let size):
            return "a segment of \(size) bytes at 0x\(hex(address)) does not fit in guest memory"
        case .segmentInReservedArea(let address):
            return "a segment at 0x\(hex(address)) overlaps the loader's tables below 0x100000 (see docs/GUEST-ABI.md)"
        case .overlappingSegments(let a, let b):
            return "segments at 0x\(hex(a)) and 0x\(hex(b)) overlap"
        case .imageTooLarge(let size, let limit):
            return "the image is \(size) bytes, more than the \(limit) bytes available for it"
        case .invalidBzImage(let reason):
            return "invalid bzImage: \(reason)"
        case .unsupportedProtocol(let version):
            return "the kernel uses boot protocol \(version >> 8).\(String(format2: version & 0xFF)); 2.06 or later is needed for a 64-bit entry"
        case .commandLineTooLong(let length, let limit):
            return "the kernel command line is \(length) bytes; this kernel accepts at most \(limit)"
        case .initrdTooLarge(let size, let room):
            return "the initrd is \(size) bytes but only \(room) bytes of guest memory are free above the kernel"
        case .memoryTooSmall(let needed):
            return "guest memory is too small for this image: it needs at least \(needed >> 20) MiB"
        }
    }
}

private func hex(_ value: UInt64) -> String { String(value, radix: 16) }

extension String {
    /// Two decimal digits, for protocol minor versions such as 2.06.
    init(format2 value: UInt16) {
        self = value < 10 ? "0\(value)" : "\(value)"
    }
}
