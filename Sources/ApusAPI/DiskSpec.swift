/// A disk a VM gets as a virtio-blk device, in order (the first is /dev/vda): an image file (raw or qcow2) inside
/// one of the daemon's image roots. On the wire: `{"path": "/srv/images/root.qcow2", "readOnly": false}`.
public struct DiskSpec: Sendable, Equatable, Hashable {
    public var path: String
    /// The guest may read it only; a read-only disk is opened read-only and may be shared by many VMs.
    public var readOnly: Bool

    public init(path: String, readOnly: Bool = false) {
        self.path = path
        self.readOnly = readOnly
    }
}

extension DiskSpec: Codable {
    enum Key: String, CodingKey, CaseIterable { case path, readOnly }

    public init(from decoder: any Decoder) throws {
        try decoder.rejectUnknownKeys(Set(Key.allCases.map(\.rawValue)), in: "disk")
        let container = try decoder.container(keyedBy: Key.self)
        path = try container.decode(String.self, forKey: .path)
        readOnly = try container.decodeIfPresent(Bool.self, forKey: .readOnly) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(path, forKey: .path)
        try container.encode(readOnly, forKey: .readOnly)
    }
}
