/// The kinds of image Apus boots, told apart by their magic numbers.
public enum ImageFormat: String, Sendable, Equatable, CaseIterable {
    /// Raw machine code with no header, entered in real mode at 0x8000 (docs/GUEST-ABI.md).
    case flat
    /// ELF magic with class 1 (or an unknown class, which the ELF parser then reports).
    case elf32
    /// ELF magic with class 2.
    case elf64
    /// A Linux bzImage: 0xAA55 at 0x1FE and "HdrS" at 0x202.
    case bzImage

    /// The format `bytes` claim to be. Only magic numbers are looked at; the loaders validate the rest.
    public static func detect(_ bytes: [UInt8]) -> ImageFormat {
        if bytes.count >= 4, bytes[0...3].elementsEqual(ELFConstants.magic) {
            return bytes.count > 4 && bytes[4] == ELFConstants.class64 ? .elf64 : .elf32
        }
        if bytes.count >= 0x206, bytes[0x1FE] == 0x55, bytes[0x1FF] == 0xAA, bytes[0x202..<0x206].elementsEqual("HdrS".utf8) {
            return .bzImage
        }
        return .flat
    }
}
