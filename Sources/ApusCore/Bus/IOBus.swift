/// Why a device could not be inserted into a bus.
public enum BusError: Error, Equatable, Sendable, CustomStringConvertible {
    case overlap(new: String, existing: String, range: GuestRange)
    case emptyRange(String)

    public var description: String {
        switch self {
        case .overlap(let new, let existing, let range):
            return "device \(new) at \(range) overlaps device \(existing)"
        case .emptyRange(let name):
            return "device \(name) was given an empty range"
        }
    }
}

/// An address space (port I/O or MMIO) mapping non-overlapping ranges to devices.
///
/// Devices are inserted while the machine is built and looked up on every exit, so lookup is a binary search over
/// a sorted array rather than a dictionary or tree.
public final class IOBus: Sendable {
    public struct Entry: Sendable {
        public let range: GuestRange
        public let slot: DeviceSlot
    }

    public let name: String
    private let entries: [Entry]

    public init(name: String, entries: [Entry] = []) {
        self.name = name
        self.entries = entries
    }

    /// A new bus with `slot` added at `range`; buses are immutable once a machine runs.
    public func inserting(_ slot: DeviceSlot, at range: GuestRange) throws -> IOBus {
        guard range.size > 0 else { throw BusError.emptyRange(slot.name) }
        if let clash = entries.first(where: { $0.range.overlaps(range) }) {
            throw BusError.overlap(new: slot.name, existing: clash.slot.name, range: range)
        }
        let sorted = (entries + [Entry(range: range, slot: slot)]).sorted { $0.range.start < $1.range.start }
        return IOBus(name: name, entries: sorted)
    }

    public var devices: [Entry] { entries }

    /// The device covering `address` and the offset into it.
    @inline(__always)
    public func resolve(_ address: UInt64) -> (slot: DeviceSlot, offset: UInt64)? {
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low + high) / 2
            let range = entries[mid].range
            if address < range.start.rawValue {
                high = mid
            } else if address - range.start.rawValue >= range.size {
                low = mid + 1
            } else {
                return (entries[mid].slot, address - range.start.rawValue)
            }
        }
        return nil
    }
}
