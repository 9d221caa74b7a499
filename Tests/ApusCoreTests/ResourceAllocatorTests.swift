import ApusCore
import Testing

@Suite struct ResourceAllocatorTests {
    @Test func allocationsAreAlignedAndDisjoint() throws {
        var allocator = RangeAllocator(pool: "MMIO", space: GuestRange(start: GuestAddress(0x1000), size: 0x10000))
        let a = try allocator.allocate(size: 0x100, alignment: 0x1000)
        let b = try allocator.allocate(size: 0x2000, alignment: 0x1000)
        #expect(a.start == GuestAddress(0x1000))
        #expect(b.start == GuestAddress(0x2000))
        #expect(!a.overlaps(b))
        allocator.release(a)
        #expect(try allocator.allocate(size: 0x800, alignment: 0x1000).start == GuestAddress(0x1000))
    }

    @Test func exhaustionAndConflictsAreReported() throws {
        var allocator = RangeAllocator(pool: "IRQ", space: GuestRange(start: GuestAddress(0), size: 4))
        try allocator.reserve(GuestRange(start: GuestAddress(1), size: 2))
        #expect(throws: AllocationError.self) { try allocator.reserve(GuestRange(start: GuestAddress(2), size: 1)) }
        #expect(throws: AllocationError.self) { try allocator.reserve(GuestRange(start: GuestAddress(3), size: 2)) }
        #expect(try allocator.allocate(size: 1).start == GuestAddress(0))
        #expect(try allocator.allocate(size: 1).start == GuestAddress(3))
        #expect(throws: AllocationError.exhausted(pool: "IRQ", size: 1)) { try allocator.allocate(size: 1) }
        #expect(throws: AllocationError.invalidAlignment(3)) { try allocator.allocate(size: 1, alignment: 3) }
    }

    @Test func fixedLegacyResourcesAndDynamicIRQs() throws {
        var resources = ResourceAllocator()
        _ = try resources.reservePorts(0x3F8, count: 8)
        _ = try resources.reserveIRQ(4)
        #expect(throws: AllocationError.self) { try resources.reservePorts(0x3FC, count: 2) }
        #expect(throws: AllocationError.self) { try resources.reserveIRQ(4) }
        #expect(try resources.allocateIRQ() == 5)
        #expect(try resources.allocateIRQ() == 6)
        #expect(try resources.allocateMMIO(size: 8).start == GuestAddress(0xD000_0000))
    }
}
