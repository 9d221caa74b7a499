/// One 16-byte entry of a split virtqueue's descriptor table (virtio 1.x, 2.7.5), as the driver wrote it.
public struct VirtqueueDescriptor: Equatable, Sendable {
    public static let byteSize: UInt64 = 16

    /// Flag bits of `flags`.
    public static let next: UInt16 = 1
    public static let deviceWritable: UInt16 = 2
    public static let indirect: UInt16 = 4

    public var address: UInt64
    public var length: UInt32
    public var flags: UInt16
    public var nextIndex: UInt16

    public init(address: UInt64, length: UInt32, flags: UInt16, nextIndex: UInt16) {
        self.address = address
        self.length = length
        self.flags = flags
        self.nextIndex = nextIndex
    }

    public var hasNext: Bool { flags & Self.next != 0 }
    public var isDeviceWritable: Bool { flags & Self.deviceWritable != 0 }
    public var isIndirect: Bool { flags & Self.indirect != 0 }
}
