public import ApusCore
import Synchronization

/// The device side of one split virtqueue (virtio 1.x, 2.7): where the driver put its three rings and how far the
/// device has got. A value type so a transport can save and restore it with the device's state.
///
/// Every ring access goes through `GuestMemory`'s bounds checks; every descriptor is validated before a device sees
/// it. Ring indices are read with acquire and published with release ordering, so a driver on another vCPU never sees
/// a used index before the used element it covers (and the device never reads a ring entry older than its index).
public struct SplitVirtqueue: Codable, Equatable, Sendable {
    public static let maxSize: UInt16 = 32768

    public var size: UInt16
    public var descriptorTable: GuestAddress
    public var availableRing: GuestAddress
    public var usedRing: GuestAddress
    /// The next available-ring slot the device will consume (the spec's last_avail_idx).
    public var nextAvailable: UInt16 = 0
    /// The used index the device will publish next.
    public var nextUsed: UInt16 = 0
    /// VIRTIO_F_EVENT_IDX was negotiated: use used_event/avail_event instead of the flags.
    public var eventIndex: Bool
    /// The used index when the device last decided whether to notify (for the event-index test).
    public var usedAtLastNotify: UInt16 = 0

    public init(size: UInt16, descriptorTable: GuestAddress, availableRing: GuestAddress, usedRing: GuestAddress,
                eventIndex: Bool = false) {
        self.size = size
        self.descriptorTable = descriptorTable
        self.availableRing = availableRing
        self.usedRing = usedRing
        self.eventIndex = eventIndex
    }

    public static func descriptorTableBytes(size: UInt16) -> UInt64 { UInt64(size) * 16 }
    public static func availableRingBytes(size: UInt16) -> UInt64 { 6 + 2 * UInt64(size) }
    public static func usedRingBytes(size: UInt16) -> UInt64 { 6 + 8 * UInt64(size) }

    /// Checks the queue's size and ring placement, as the driver sets queue_enable.
    public func validateLayout(in memory: GuestMemory) throws(VirtqueueError) {
        guard size >= 1, size <= Self.maxSize, size & (size - 1) == 0 else { throw .badQueueSize(size) }
        let rings: [(String, GuestAddress, UInt64, UInt64)] = [
            ("descriptor table", descriptorTable, Self.descriptorTableBytes(size: size), 16),
            ("available ring", availableRing, Self.availableRingBytes(size: size), 2),
            ("used ring", usedRing, Self.usedRingBytes(size: size), 4),
        ]
        for (name, address, length, alignment) in rings {
            guard address.rawValue % alignment == 0 else { throw .misalignedRing(name: name, address: address) }
            guard memory.contains(address, length: Int(length)) else {
                throw .ringOutsideMemory(name: name, address: address, length: length)
            }
        }
    }

    /// Whether the driver has posted chains the device has not taken yet.
    public func hasAvailable(in memory: GuestMemory) throws(VirtqueueError) -> Bool {
        try availableIndex(in: memory) != nextAvailable
    }

    /// Takes the next chain off the available ring, fully validated, or nil when the ring is empty.
    public mutating func pop(from memory: GuestMemory) throws(VirtqueueError) -> DescriptorChain? {
        let availableIndex = try availableIndex(in: memory)
        if availableIndex == nextAvailable { return nil }
        guard availableIndex &- nextAvailable <= size else {
            throw .availIndexTooFarAhead(availIndex: availableIndex, lastSeen: nextAvailable, queueSize: size)
        }
        let slot = UInt64(nextAvailable & (size - 1))
        let head = try ring(UInt16.self, "available ring", at: availableRing.rawValue + 4 + 2 * slot, memory)
        guard head < size else { throw .headOutOfRange(index: head, queueSize: size) }
        let chain = try walk(head: head, in: memory)
        nextAvailable &+= 1
        if eventIndex {
            // avail_event: ask the driver to notify once it posts beyond what we have consumed.
            try store(nextAvailable, "used ring", at: usedRing.rawValue + 4 + 8 * UInt64(size), memory)
        }
        return chain
    }

    /// Returns a chain to the driver with the number of bytes the device wrote into its writable buffers.
    public mutating func pushUsed(head: UInt16, writtenLength: UInt32, to memory: GuestMemory) throws(VirtqueueError) {
        guard head < size else { throw .usedElementOutOfRange(head: head, queueSize: size) }
        let element = usedRing.rawValue + 4 + 8 * UInt64(nextUsed & (size - 1))
        try store(UInt32(head), "used ring", at: element, memory)
        try store(writtenLength, "used ring", at: element + 4, memory)
        nextUsed &+= 1
        // Release: the element must be visible before the index that publishes it.
        atomicMemoryFence(ordering: .releasing)
        try store(nextUsed, "used ring", at: usedRing.rawValue + 2, memory)
    }

    /// Whether the driver wants an interrupt for the used entries published since the last call.
    public mutating func shouldNotify(in memory: GuestMemory) throws(VirtqueueError) -> Bool {
        // The used index store must be globally visible before the driver's suppression field is read.
        atomicMemoryFence(ordering: .sequentiallyConsistent)
        let old = usedAtLastNotify
        let new = nextUsed
        usedAtLastNotify = new
        if eventIndex {
            let usedEvent = try ring(UInt16.self, "available ring",
                                     at: availableRing.rawValue + 4 + 2 * UInt64(size), memory)
            return new &- usedEvent &- 1 < new &- old
        }
        let flags = try ring(UInt16.self, "available ring", at: availableRing.rawValue, memory)
        return flags & 1 == 0 && new != old
    }

    // MARK: - Chain walking

    private func walk(head: UInt16, in memory: GuestMemory) throws(VirtqueueError) -> DescriptorChain {
        var chain = DescriptorChain(head: head, readable: [], writable: [])
        var table = descriptorTable
        var tableSize = UInt32(size)
        var index = UInt32(head)
        var inIndirect = false
        // The spec bounds a chain, indirect entries included, by the queue size; more is a loop or a lie.
        let limit = UInt32(size)
        var walked: UInt32 = 0
        while true {
            walked += 1
            guard walked <= limit else { throw .chainTooLong(limit: limit) }
            let descriptor = try readDescriptor(table: table, index: index, memory)
            if descriptor.isIndirect {
                guard !inIndirect else { throw .nestedIndirect }
                guard !descriptor.hasNext else { throw .indirectWithNext }
                let address = GuestAddress(descriptor.address)
                guard descriptor.length >= 16, descriptor.length % 16 == 0 else {
                    throw .badIndirectTable(address: address, length: descriptor.length)
                }
                guard memory.contains(address, length: Int(descriptor.length)) else {
                    throw .bufferOutsideMemory(address: address, length: descriptor.length)
                }
                table = address
                tableSize = descriptor.length / 16
                index = 0
                inIndirect = true
                walked -= 1  // the indirect descriptor itself carries no data
                continue
            }
            if descriptor.length > 0 {
                let address = GuestAddress(descriptor.address)
                guard memory.contains(address, length: Int(descriptor.length)) else {
                    throw .bufferOutsideMemory(address: address, length: descriptor.length)
                }
                let buffer = GuestBuffer(address: address, length: descriptor.length)
                if descriptor.isDeviceWritable {
                    chain.writable.append(buffer)
                } else {
                    guard chain.writable.isEmpty else { throw .readableAfterWritable }
                    chain.readable.append(buffer)
                }
            }
            guard descriptor.hasNext else { return chain }
            guard UInt32(descriptor.nextIndex) < tableSize else {
                throw .nextOutOfRange(index: descriptor.nextIndex, tableSize: tableSize)
            }
            index = UInt32(descriptor.nextIndex)
        }
    }

    private func readDescriptor(table: GuestAddress, index: UInt32,
                                _ memory: GuestMemory) throws(VirtqueueError) -> VirtqueueDescriptor {
        let base = table.rawValue + 16 * UInt64(index)
        do {
            return VirtqueueDescriptor(
                address: try memory.read(UInt64.self, at: GuestAddress(base)),
                length: try memory.read(UInt32.self, at: GuestAddress(base + 8)),
                flags: try memory.read(UInt16.self, at: GuestAddress(base + 12)),
                nextIndex: try memory.read(UInt16.self, at: GuestAddress(base + 14)))
        } catch {
            throw .ringOutsideMemory(name: "descriptor table", address: table, length: 16 * UInt64(index + 1))
        }
    }

    private func availableIndex(in memory: GuestMemory) throws(VirtqueueError) -> UInt16 {
        let index = try ring(UInt16.self, "available ring", at: availableRing.rawValue + 2, memory)
        // Acquire: ring entries up to this index are read only after the index itself.
        atomicMemoryFence(ordering: .acquiring)
        return index
    }

    private func ring<T: FixedWidthInteger>(_ type: T.Type, _ name: String, at address: UInt64,
                                            _ memory: GuestMemory) throws(VirtqueueError) -> T {
        do { return try memory.read(T.self, at: GuestAddress(address)) } catch {
            throw .ringOutsideMemory(name: name, address: GuestAddress(address), length: UInt64(MemoryLayout<T>.size))
        }
    }

    private func store<T: FixedWidthInteger>(_ value: T, _ name: String, at address: UInt64,
                                             _ memory: GuestMemory) throws(VirtqueueError) {
        do { try memory.write(value, at: GuestAddress(address)) } catch {
            throw .ringOutsideMemory(name: name, address: GuestAddress(address), length: UInt64(MemoryLayout<T>.size))
        }
    }
}
