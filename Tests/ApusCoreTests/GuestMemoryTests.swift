import ApusCore
import Testing

@Suite struct GuestMemoryTests {
    @Test func typedAccessIsLittleEndianAndBoundsChecked() throws {
        let memory = try GuestMemory(size: 0x4000)
        try memory.write(UInt32(0x1122_3344), at: GuestAddress(0x100))
        #expect(try memory.read(UInt8.self, at: GuestAddress(0x100)) == 0x44)
        #expect(try memory.read(UInt32.self, at: GuestAddress(0x100)) == 0x1122_3344)
        #expect(throws: GuestMemoryError.outOfBounds(address: GuestAddress(0x3FFE), length: 4)) {
            try memory.read(UInt32.self, at: GuestAddress(0x3FFE))
        }
        #expect(throws: GuestMemoryError.self) { try memory.write(UInt64(1), at: GuestAddress(.max - 3)) }
    }

    @Test func accessesMayNotSpanTwoRegions() throws {
        let memory = try GuestMemory(layout: [(GuestAddress(0), 0x1000), (GuestAddress(0x1000), 0x1000)])
        #expect(memory.contains(GuestAddress(0xFFC), length: 4))
        #expect(!memory.contains(GuestAddress(0xFFE), length: 4))
        #expect(memory.size == 0x2000)
    }

    @Test func overlappingAndMisalignedRegionsAreRejected() {
        #expect(throws: GuestMemoryError.self) {
            try GuestMemory(layout: [(GuestAddress(0), 0x2000), (GuestAddress(0x1000), 0x1000)])
        }
        #expect(throws: GuestMemoryError.self) { try GuestMemory(layout: [(GuestAddress(0x10), 0x1000)]) }
        #expect(throws: GuestMemoryError.self) { try GuestMemory(layout: [(GuestAddress(0), 0x1001)]) }
        #expect(throws: GuestMemoryError.self) { try GuestMemory(layout: [(GuestAddress(.max - 0xFFF), 0x2000)]) }
    }

    @Test func vmmWritesMarkPagesDirty() throws {
        let memory = try GuestMemory(size: 0x10000)
        let region = try #require(memory.regions.first)
        let migration = region.hostWrites.pages(for: .migration)
        try memory.write(UInt8(1), at: GuestAddress(0x3000))   // before the reader started: not recorded
        region.hostWrites.start(.migration)
        #expect(migration.takeAll().isEmpty)
        try memory.write([1, 2, 3], at: GuestAddress(0x1FFF))
        try memory.fill(0, at: GuestAddress(0x5000), count: 1)
        try memory.withWritableBytes(at: GuestAddress(0xA000), count: 0x1001) { $0[0] = 7 }
        #expect(migration.takeAll() == [1, 2, 5, 10, 11])
        #expect(migration.takeAll().isEmpty)
        // Readers are independent: the decode cache's set was never started, so it holds nothing.
        #expect(region.hostWrites.pages(for: .decodedCode).takeAll().isEmpty)
    }

    @Test func byteCopiesRoundTrip() throws {
        let memory = try GuestMemory(size: 0x2000)
        try memory.write(Array("apus".utf8), at: GuestAddress(0x10))
        #expect(try memory.readBytes(at: GuestAddress(0x10), count: 4) == Array("apus".utf8))
        #expect(throws: GuestMemoryError.self) { try memory.readBytes(at: GuestAddress(0x1FFF), count: 2) }
    }
}
