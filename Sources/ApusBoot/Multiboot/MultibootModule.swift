/// A file the loader places in guest memory for a Multiboot kernel (an initrd, a program, a font...), with the string
/// the kernel sees next to it (usually its name and arguments).
public struct MultibootModule: Sendable, Equatable {
    public var bytes: [UInt8]
    public var string: String

    public init(bytes: [UInt8], string: String) {
        self.bytes = bytes
        self.string = string
    }
}
