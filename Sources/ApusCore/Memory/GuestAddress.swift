/// A guest-physical address. A distinct type so it cannot be confused with a host pointer or a guest-virtual address.
public struct GuestAddress: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: UInt64

    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ value: UInt64) { self.rawValue = value }

    public static func < (lhs: GuestAddress, rhs: GuestAddress) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `nil` when the sum wraps around the 64-bit address space.
    public func adding(_ offset: UInt64) -> GuestAddress? {
        let (sum, overflow) = rawValue.addingReportingOverflow(offset)
        return overflow ? nil : GuestAddress(sum)
    }

    public var description: String { "0x" + String(rawValue, radix: 16) }
}

/// A half-open guest-physical range `[start, start + size)`.
public struct GuestRange: Hashable, Sendable, Codable, CustomStringConvertible {
    public var start: GuestAddress
    public var size: UInt64

    public init(start: GuestAddress, size: UInt64) {
        self.start = start
        self.size = size
    }

    /// One past the last byte; saturates at `UInt64.max` for a range that touches the top of the address space.
    public var end: UInt64 {
        let (sum, overflow) = start.rawValue.addingReportingOverflow(size)
        return overflow ? .max : sum
    }

    public func contains(_ address: GuestAddress) -> Bool {
        address.rawValue >= start.rawValue && address.rawValue - start.rawValue < size
    }

    public func overlaps(_ other: GuestRange) -> Bool {
        start.rawValue < other.end && other.start.rawValue < end
    }

    public var description: String { "[\(start), 0x\(String(end, radix: 16)))" }
}
