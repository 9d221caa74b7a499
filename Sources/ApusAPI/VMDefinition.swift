/// A VM as its owner defines it: everything needed to boot it, nothing about its current run.
public struct VMDefinition: Sendable, Equatable {
    public static let defaultMemoryMiB = 64
    /// Letters, digits, '-', '_' and '.', starting with a letter or digit: safe in paths, URLs and shell scripts.
    public static let maximumNameLength = 63

    public var name: String
    public var memoryMiB: Int
    public var vcpus: Int
    /// "auto" (KVM when usable, else the software CPU), "kvm" or "soft".
    public var backend: String
    public var boot: BootSpec
    /// virtio-blk disks, in order (the first is /dev/vda).
    public var disks: [DiskSpec]

    /// The most disks a VM may have (one PCI slot each, as the VMM allows).
    public static let maximumDisks = 16

    public init(name: String, memoryMiB: Int = VMDefinition.defaultMemoryMiB, vcpus: Int = 1,
                backend: String = "auto", boot: BootSpec, disks: [DiskSpec] = []) {
        self.name = name
        self.memoryMiB = memoryMiB
        self.vcpus = vcpus
        self.backend = backend
        self.boot = boot
        self.disks = disks
    }

    /// Why `name` cannot name a VM, or nil when it can.
    public static func problem(withName name: String) -> String? {
        guard !name.isEmpty else { return "the name is empty" }
        guard name.utf8.count <= maximumNameLength else {
            return "the name is longer than \(maximumNameLength) characters"
        }
        let allowed = name.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "-_.".unicodeScalars.contains(scalar))
        }
        guard allowed, let first = name.unicodeScalars.first, first != "-", first != "_", first != "." else {
            return "'\(name)' is not a valid name (use letters, digits, '-', '_' and '.', starting with a letter or digit)"
        }
        return nil
    }
}

extension VMDefinition: Codable {
    enum Key: String, CodingKey, CaseIterable { case name, memoryMiB, vcpus, backend, boot, disks }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(Key.allCases.map(\.rawValue)), in: "VM definition")
        let container = try decoder.container(keyedBy: Key.self)
        name = try container.decode(String.self, forKey: .name)
        memoryMiB = try container.decodeIfPresent(Int.self, forKey: .memoryMiB) ?? Self.defaultMemoryMiB
        vcpus = try container.decodeIfPresent(Int.self, forKey: .vcpus) ?? 1
        backend = try container.decodeIfPresent(String.self, forKey: .backend) ?? "auto"
        boot = try container.decode(BootSpec.self, forKey: .boot)
        // Records written before disks existed have none.
        disks = try container.decodeIfPresent([DiskSpec].self, forKey: .disks) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(name, forKey: .name)
        try container.encode(memoryMiB, forKey: .memoryMiB)
        try container.encode(vcpus, forKey: .vcpus)
        try container.encode(backend, forKey: .backend)
        try container.encode(boot, forKey: .boot)
        try container.encode(disks, forKey: .disks)
    }
}
