public enum AllocationError: Error, Equatable, Sendable, CustomStringConvertible {
    case exhausted(pool: String, size: UInt64)
    case unavailable(pool: String, range: GuestRange)
    case invalidAlignment(UInt64)

    public var description: String {
        switch self {
        case .exhausted(let pool, let size): return "no free \(pool) range of \(size) units is left"
        case .unavailable(let pool, let range): return "\(pool) range \(range) is outside the pool or already taken"
        case .invalidAlignment(let alignment): return "alignment \(alignment) is not a power of two"
        }
    }
}

/// Hands out non-overlapping sub-ranges of one address space (guest-physical MMIO, I/O ports, IRQ numbers).
/// First fit with alignment; fixed reservations for architecturally placed devices (the UART at 0x3F8, IRQ 4).
public struct RangeAllocator: Sendable {
    public let pool: String
    public let space: GuestRange
    /// Allocated ranges, sorted by start.
    public private(set) var allocated: [GuestRange] = []

    public init(pool: String, space: GuestRange) {
        self.pool = pool
        self.space = space
    }

    /// Claims exactly `range`.
    public mutating func reserve(_ range: GuestRange) throws {
        guard range.size > 0, range.start >= space.start, range.end <= space.end,
              !allocated.contains(where: { $0.overlaps(range) }) else {
            throw AllocationError.unavailable(pool: pool, range: range)
        }
        allocated.append(range)
        allocated.sort { $0.start < $1.start }
    }

    /// Claims the lowest free range of `size` units whose start is a multiple of `alignment`.
    public mutating func allocate(size: UInt64, alignment: UInt64 = 1) throws -> GuestRange {
        guard alignment > 0, alignment & (alignment - 1) == 0 else { throw AllocationError.invalidAlignment(alignment) }
        guard size > 0 else { throw AllocationError.exhausted(pool: pool, size: size) }
        var candidate = Self.alignUp(space.start.rawValue, alignment)
        for taken in allocated + [GuestRange(start: GuestAddress(space.end), size: 0)] {
            if let end = candidate.addingReportingOverflow(size).overflow ? nil : candidate + size,
               end <= taken.start.rawValue, end <= space.end {
                let range = GuestRange(start: GuestAddress(candidate), size: size)
                try reserve(range)
                return range
            }
            candidate = max(candidate, Self.alignUp(taken.end, alignment))
        }
        throw AllocationError.exhausted(pool: pool, size: size)
    }

    /// Returns `range` to the pool; a range that was never allocated is ignored.
    public mutating func release(_ range: GuestRange) {
        allocated.removeAll { $0 == range }
    }

    private static func alignUp(_ value: UInt64, _ alignment: UInt64) -> UInt64 {
        let (sum, overflow) = value.addingReportingOverflow(alignment - 1)
        return overflow ? .max : sum & ~(alignment - 1)
    }
}
