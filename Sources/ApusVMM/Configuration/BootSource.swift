public import ApusBoot

/// What a machine boots.
public enum BootSource: Sendable {
    /// One of our guest images (flat binary, ELF32 or ELF64), entered per docs/GUEST-ABI.md; an image with a
    /// Multiboot header is entered the Multiboot way, with an empty command line and no modules.
    case guestImage(name: String, bytes: [UInt8])
    /// A Linux kernel (ELF vmlinux or bzImage) through the x86 boot protocol.
    case linux(kernel: [UInt8], initrd: [UInt8]?, commandLine: String)
    /// A Multiboot (version 1) kernel with a command line and modules, as `qemu -kernel IMAGE -append ... -initrd
    /// MODULES` boots it.
    case multiboot(name: String, bytes: [UInt8], commandLine: String, modules: [MultibootModule])

    /// `bytes` as a guest image, or as a Multiboot kernel when it has a Multiboot header; a command line or modules
    /// for an image without one are refused.
    public static func image(name: String, bytes: [UInt8], commandLine: String?,
                             modules: [MultibootModule]) throws -> BootSource {
        if MultibootHeader.find(in: bytes) != nil {
            return .multiboot(name: name, bytes: bytes, commandLine: commandLine ?? "", modules: modules)
        }
        guard commandLine == nil, modules.isEmpty else { throw VMMError.bootFailed("\(BootError.multibootOptionsNeedMultiboot)") }
        return .guestImage(name: name, bytes: bytes)
    }

    /// What the firmware configuration device reports as the command line.
    var commandLine: String {
        switch self {
        case .guestImage: return ""
        case .linux(_, _, let commandLine), .multiboot(_, _, let commandLine, _): return commandLine
        }
    }
}

/// A Multiboot module, as callers of the VMM name it (they need not import the loaders).
public typealias BootModule = MultibootModule
