public import ApusCore

/// Why a driver's virtqueue or descriptor chain was refused. Any of these puts the device into DEVICE_NEEDS_RESET:
/// the driver broke the protocol, and nothing it posts afterwards can be trusted until it resets the device.
public enum VirtqueueError: Error, Equatable, Sendable, CustomStringConvertible {
    case badQueueSize(UInt16)
    case misalignedRing(name: String, address: GuestAddress)
    case ringOutsideMemory(name: String, address: GuestAddress, length: UInt64)
    case availIndexTooFarAhead(availIndex: UInt16, lastSeen: UInt16, queueSize: UInt16)
    case headOutOfRange(index: UInt16, queueSize: UInt16)
    case nextOutOfRange(index: UInt16, tableSize: UInt32)
    case chainTooLong(limit: UInt32)
    case bufferOutsideMemory(address: GuestAddress, length: UInt32)
    case readableAfterWritable
    case nestedIndirect
    case indirectWithNext
    case badIndirectTable(address: GuestAddress, length: UInt32)
    case usedElementOutOfRange(head: UInt16, queueSize: UInt16)
    case badRequest(String)

    public var description: String {
        switch self {
        case .badQueueSize(let size): return "queue size \(size) is not a power of two in 1...32768"
        case .misalignedRing(let name, let address): return "\(name) at \(address) is misaligned"
        case .ringOutsideMemory(let name, let address, let length):
            return "\(name) at \(address) (\(length) bytes) is outside guest RAM"
        case .availIndexTooFarAhead(let avail, let last, let size):
            return "available index \(avail) is more than the queue size \(size) ahead of \(last)"
        case .headOutOfRange(let index, let size): return "chain head \(index) is outside the \(size)-entry table"
        case .nextOutOfRange(let index, let size): return "next descriptor \(index) is outside the \(size)-entry table"
        case .chainTooLong(let limit): return "descriptor chain longer than \(limit) entries (a loop)"
        case .bufferOutsideMemory(let address, let length):
            return "buffer at \(address) (\(length) bytes) is outside guest RAM"
        case .readableAfterWritable: return "a device-readable descriptor follows a device-writable one"
        case .nestedIndirect: return "an indirect table contains an indirect descriptor"
        case .indirectWithNext: return "a descriptor has both INDIRECT and NEXT set"
        case .badIndirectTable(let address, let length):
            return "indirect table at \(address) has an invalid length \(length)"
        case .usedElementOutOfRange(let head, let size): return "used head \(head) is outside the \(size)-entry table"
        case .badRequest(let reason): return "malformed request: \(reason)"
        }
    }
}
