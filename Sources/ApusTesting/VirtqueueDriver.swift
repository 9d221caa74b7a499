public import ApusCore
import Synchronization

/// The driver side of a split virtqueue, written independently of the device's implementation from the virtio 1.x
/// layout: it lays out the descriptor table, available and used rings in guest memory, posts chains (direct or
/// through an indirect table) and collects used entries — what a guest's virtio driver does, so device tests need no
/// guest. Raw writers let fuzz tests post anything a hostile driver could.
public final class VirtqueueDriver {
    /// One buffer of a chain as the driver posts it.
    public struct Buffer: Equatable, Sendable {
        public var address: GuestAddress
        public var length: UInt32
        public var deviceWritable: Bool
        public init(address: GuestAddress, length: UInt32, deviceWritable: Bool) {
            self.address = address
            self.length = length
            self.deviceWritable = deviceWritable
        }
        public static func readable(_ address: UInt64, _ length: UInt32) -> Buffer {
            Buffer(address: GuestAddress(address), length: length, deviceWritable: false)
        }
        public static func writable(_ address: UInt64, _ length: UInt32) -> Buffer {
            Buffer(address: GuestAddress(address), length: length, deviceWritable: true)
        }
    }

    public enum DriverError: Error, Equatable {
        case noFreeDescriptors(wanted: Int, free: Int)
    }

    public static let flagNext: UInt16 = 1
    public static let flagWrite: UInt16 = 2
    public static let flagIndirect: UInt16 = 4

    public let memory: GuestMemory
    public let size: UInt16
    public let descriptorTable: GuestAddress
    public let availableRing: GuestAddress
    public let usedRing: GuestAddress
    /// Where the layout ends (first free byte after the used ring).
    public let end: GuestAddress

    private var free: [UInt16]
    private var chains: [UInt16: [UInt16]] = [:]
    public private(set) var availableIndex: UInt16 = 0
    private var lastUsedSeen: UInt16 = 0

    /// Lays the rings out from `base` (16-byte aligned) and zeroes them.
    public init(memory: GuestMemory, size: UInt16, base: GuestAddress) throws {
        precondition(base.rawValue % 16 == 0, "the descriptor table must be 16-byte aligned")
        self.memory = memory
        self.size = size
        descriptorTable = base
        availableRing = GuestAddress(base.rawValue + 16 * UInt64(size))
        let availableEnd = availableRing.rawValue + 6 + 2 * UInt64(size)
        usedRing = GuestAddress((availableEnd + 3) & ~3)
        end = GuestAddress(usedRing.rawValue + 6 + 8 * UInt64(size))
        free = Array((0..<size).reversed())
        try memory.fill(0, at: base, count: Int(end.rawValue - base.rawValue))
    }

    // MARK: - Well-formed posting

    /// Posts `buffers` as one direct chain; returns its head.
    @discardableResult
    public func post(_ buffers: [Buffer]) throws -> UInt16 {
        guard buffers.count <= free.count, !buffers.isEmpty else {
            throw DriverError.noFreeDescriptors(wanted: buffers.count, free: free.count)
        }
        let indices = (0..<buffers.count).map { _ in free.removeLast() }
        for (position, buffer) in buffers.enumerated() {
            let last = position == buffers.count - 1
            var flags: UInt16 = buffer.deviceWritable ? Self.flagWrite : 0
            if !last { flags |= Self.flagNext }
            try writeDescriptor(index: indices[position], address: buffer.address.rawValue, length: buffer.length,
                                flags: flags, next: last ? 0 : indices[position + 1])
        }
        chains[indices[0]] = indices
        try publish(head: indices[0])
        return indices[0]
    }

    /// Posts `buffers` through an indirect table written at `table`; one ring descriptor is used.
    @discardableResult
    public func postIndirect(_ buffers: [Buffer], table: GuestAddress) throws -> UInt16 {
        guard let head = free.popLast() else { throw DriverError.noFreeDescriptors(wanted: 1, free: 0) }
        for (position, buffer) in buffers.enumerated() {
            let last = position == buffers.count - 1
            var flags: UInt16 = buffer.deviceWritable ? Self.flagWrite : 0
            if !last { flags |= Self.flagNext }
            try Self.writeDescriptor(memory, table: table, index: UInt16(position), address: buffer.address.rawValue,
                                     length: buffer.length, flags: flags, next: last ? 0 : UInt16(position + 1))
        }
        try writeDescriptor(index: head, address: table.rawValue, length: UInt32(16 * buffers.count),
                            flags: Self.flagIndirect, next: 0)
        chains[head] = [head]
        try publish(head: head)
        return head
    }

    /// Used entries the device published since the last call, oldest first; their descriptors become free again.
    public func takeUsed() throws -> [(head: UInt16, length: UInt32)] {
        let usedIndex = try memory.read(UInt16.self, at: GuestAddress(usedRing.rawValue + 2))
        atomicMemoryFence(ordering: .acquiring)
        var entries: [(UInt16, UInt32)] = []
        while lastUsedSeen != usedIndex {
            let element = usedRing.rawValue + 4 + 8 * UInt64(lastUsedSeen % size)
            let head = try memory.read(UInt32.self, at: GuestAddress(element))
            let length = try memory.read(UInt32.self, at: GuestAddress(element + 4))
            entries.append((UInt16(truncatingIfNeeded: head), length))
            if let indices = chains.removeValue(forKey: UInt16(truncatingIfNeeded: head)) {
                free.append(contentsOf: indices)
            }
            lastUsedSeen &+= 1
        }
        return entries
    }

    public var freeDescriptorCount: Int { free.count }

    /// VIRTQ_AVAIL_F_NO_INTERRUPT.
    public func setInterruptsSuppressed(_ suppressed: Bool) throws {
        try memory.write(UInt16(suppressed ? 1 : 0), at: availableRing)
    }

    /// used_event (meaningful with VIRTIO_F_EVENT_IDX).
    public func setUsedEvent(_ index: UInt16) throws {
        try memory.write(index, at: GuestAddress(availableRing.rawValue + 4 + 2 * UInt64(size)))
    }

    /// avail_event as the device last wrote it.
    public func availableEvent() throws -> UInt16 {
        try memory.read(UInt16.self, at: GuestAddress(usedRing.rawValue + 4 + 8 * UInt64(size)))
    }

    // MARK: - Raw access for hostile drivers

    public func writeDescriptor(index: UInt16, address: UInt64, length: UInt32, flags: UInt16, next: UInt16) throws {
        try Self.writeDescriptor(memory, table: descriptorTable, index: index, address: address, length: length,
                                 flags: flags, next: next)
    }

    public static func writeDescriptor(_ memory: GuestMemory, table: GuestAddress, index: UInt16, address: UInt64,
                                       length: UInt32, flags: UInt16, next: UInt16) throws {
        let base = table.rawValue + 16 * UInt64(index)
        try memory.write(address, at: GuestAddress(base))
        try memory.write(length, at: GuestAddress(base + 8))
        try memory.write(flags, at: GuestAddress(base + 12))
        try memory.write(next, at: GuestAddress(base + 14))
    }

    /// Puts `head` in the next available slot and publishes it (release: the slot before the index).
    public func publish(head: UInt16) throws {
        let slot = availableRing.rawValue + 4 + 2 * UInt64(availableIndex % size)
        try memory.write(head, at: GuestAddress(slot))
        availableIndex &+= 1
        atomicMemoryFence(ordering: .releasing)
        try memory.write(availableIndex, at: GuestAddress(availableRing.rawValue + 2))
    }

    /// Overwrites the available index with anything (a hostile driver).
    public func forceAvailableIndex(_ index: UInt16) throws {
        availableIndex = index
        try memory.write(index, at: GuestAddress(availableRing.rawValue + 2))
    }
}
