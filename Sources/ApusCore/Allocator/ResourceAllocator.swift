/// The VMM's allocator: every guest-visible resource a machine hands out comes from here, so two devices can never
/// be given the same address, port range or interrupt line (Popek-Goldberg's resource control).
public struct ResourceAllocator: Sendable {
    /// Guest-physical space for device MMIO: below 4 GiB, above RAM (the 32-bit PCI hole), by convention.
    public var mmio: RangeAllocator
    public var ports: RangeAllocator
    /// Interrupt lines (GSIs). 0-15 are the ISA IRQs.
    public var irqs: RangeAllocator

    public init(mmioSpace: GuestRange = GuestRange(start: GuestAddress(0xD000_0000), size: 0x2000_0000),
                irqCount: UInt64 = 24) {
        self.mmio = RangeAllocator(pool: "MMIO", space: mmioSpace)
        self.ports = RangeAllocator(pool: "I/O port", space: GuestRange(start: GuestAddress(0), size: 0x1_0000))
        self.irqs = RangeAllocator(pool: "IRQ", space: GuestRange(start: GuestAddress(0), size: irqCount))
    }

    /// Claims a fixed port range, such as an ISA device's architectural ports.
    public mutating func reservePorts(_ base: UInt16, count: UInt16) throws -> GuestRange {
        let range = GuestRange(start: GuestAddress(UInt64(base)), size: UInt64(count))
        try ports.reserve(range)
        return range
    }

    /// Claims a fixed IRQ line.
    public mutating func reserveIRQ(_ line: UInt32) throws -> UInt32 {
        try irqs.reserve(GuestRange(start: GuestAddress(UInt64(line)), size: 1))
        return line
    }

    /// Any free IRQ line at or above 5 (lines below are the PC's fixed legacy devices).
    public mutating func allocateIRQ() throws -> UInt32 {
        var candidate = irqs
        for line in UInt64(5)..<irqs.space.size {
            if (try? candidate.reserve(GuestRange(start: GuestAddress(line), size: 1))) != nil {
                irqs = candidate
                return UInt32(line)
            }
        }
        throw AllocationError.exhausted(pool: irqs.pool, size: 1)
    }

    public mutating func allocateMMIO(size: UInt64, alignment: UInt64 = 4096) throws -> GuestRange {
        try mmio.allocate(size: size, alignment: alignment)
    }
}
