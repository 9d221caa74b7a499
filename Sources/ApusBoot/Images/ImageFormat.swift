/// The kinds of image Apus can boot, told apart by their magic numbers.
public enum ImageFormat: String, Sendable, Equatable {
    /// Raw machine code with no header, entered in real mode (docs/GUEST-ABI.md).
    case flat
    case elf32
    case elf64
    /// A Linux bzImage: boot sector with 0xAA55 at 0x1FE and "HdrS" at 0x202.
    case bzImage

    public static func detect(_ bytes: [UInt8]) -> ImageFormat {
        if bytes.count >= 5, bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46 {
            return bytes[4] == 2 ? .elf64 : .elf32
        }
        if bytes.count >= 0x206, bytes[0x1FE] == 0x55, bytes[0x1FF] == 0xAA,
           bytes[0x202...0x205].elementsEqual("HdrS".utf8) {
            return .bzImage
        }
        return .flat
    }
}
