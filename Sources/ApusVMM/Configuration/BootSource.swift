/// What a machine boots.
public enum BootSource: Sendable {
    /// One of our guest images (flat binary, ELF32 or ELF64), entered per docs/GUEST-ABI.md.
    case guestImage(name: String, bytes: [UInt8])
    /// A Linux kernel (ELF vmlinux or bzImage) through the x86 boot protocol.
    case linux(kernel: [UInt8], initrd: [UInt8]?, commandLine: String)
}
