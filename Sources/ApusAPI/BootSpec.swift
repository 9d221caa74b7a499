/// What a VM boots. On the wire it is an object with exactly one of `guest`, `image` or `kernel`:
/// `{"guest": "counter"}`, `{"image": "/srv/guest.elf"}`, `{"kernel": "/boot/vmlinuz", "initrd": "...", "cmdline": "..."}`.
public enum BootSpec: Sendable, Equatable {
    /// A guest built into Apus (`apus run --list-guests` names them).
    case guest(String)
    /// A flat, ELF32 or ELF64 image file on the daemon's host, entered per docs/GUEST-ABI.md.
    case image(path: String)
    /// A Linux kernel (vmlinux or bzImage) with an optional initrd and command line.
    case linux(kernel: String, initrd: String?, commandLine: String?)

    /// Host files this boot source reads when the VM starts.
    public var files: [(role: String, path: String)] {
        switch self {
        case .guest: return []
        case .image(let path): return [("image", path)]
        case .linux(let kernel, let initrd, _):
            return [("kernel", kernel)] + (initrd.map { [("initrd", $0)] } ?? [])
        }
    }
}

extension BootSpec: Codable {
    enum Key: String, CodingKey, CaseIterable { case guest, image, kernel, initrd, cmdline }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(Key.allCases.map(\.rawValue)), in: "boot")
        let container = try decoder.container(keyedBy: Key.self)
        let guest = try container.decodeIfPresent(String.self, forKey: .guest)
        let image = try container.decodeIfPresent(String.self, forKey: .image)
        let kernel = try container.decodeIfPresent(String.self, forKey: .kernel)
        let initrd = try container.decodeIfPresent(String.self, forKey: .initrd)
        let cmdline = try container.decodeIfPresent(String.self, forKey: .cmdline)
        let sources = [guest, image, kernel].compactMap { $0 }
        guard sources.count == 1 else {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath,
                debugDescription: "boot needs exactly one of 'guest', 'image' or 'kernel', got \(sources.count)"))
        }
        if kernel == nil && (initrd != nil || cmdline != nil) {
            throw DecodingError.dataCorrupted(.init(
                codingPath: decoder.codingPath, debugDescription: "'initrd' and 'cmdline' need 'kernel'"))
        }
        if let guest { self = .guest(guest) } else if let image { self = .image(path: image) } else {
            self = .linux(kernel: kernel ?? "", initrd: initrd, commandLine: cmdline)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        switch self {
        case .guest(let name): try container.encode(name, forKey: .guest)
        case .image(let path): try container.encode(path, forKey: .image)
        case .linux(let kernel, let initrd, let commandLine):
            try container.encode(kernel, forKey: .kernel)
            try container.encodeIfPresent(initrd, forKey: .initrd)
            try container.encodeIfPresent(commandLine, forKey: .cmdline)
        }
    }
}
