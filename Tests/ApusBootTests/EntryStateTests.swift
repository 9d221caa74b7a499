import ApusBoot
import ApusCore
import Testing

@Suite struct EntryStateTests {
    @Test func longModeStateAndPageTables() throws {
        let memory = try GuestMemory(size: 2 << 20)
        let (registers, special) = try EntryState.longMode(entry: 0x100000, stack: 0x80000, memory: memory)
        #expect(registers.rip == 0x100000 && registers.rsp == 0x80000 && registers.rflags == 2)
        #expect(special.cr0 == 0x8000_0033)
        #expect(special.cr4 == 0x20)
        #expect(special.efer == 0x500)
        #expect(special.cr3 == 0x9000)
        #expect(special.cs == Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x08, type: 0xB, db: false, l: true, g: true))
        #expect(special.ss.selector == 0x10 && special.ss.type == 3 && special.ss.db)
        #expect(special.tr.type == 0xB && !special.tr.s && special.tr.selector == 0x18)
        #expect(try memory.read(UInt64.self, at: GuestAddress(0x9000)) == 0xA003)
        #expect(try memory.read(UInt64.self, at: GuestAddress(0xA000 + 3 * 8)) == 0xE003)
        #expect(try memory.read(UInt64.self, at: GuestAddress(0xB000 + 511 * 8)) == (511 << 21) | 0x83)
        #expect(try memory.read(UInt64.self, at: GuestAddress(0x508)) == 0x00AF_9B00_0000_FFFF)
    }

    @Test func realModeSegmentsAreSelectorTimesSixteen() {
        let (registers, special) = EntryState.realMode(segment: 0x1234, ip: 0x10, sp: 0x7000)
        #expect(special.cs.base == 0x12340 && special.ds.base == 0x12340 && special.cs.limit == 0xFFFF)
        #expect(registers.rip == 0x10 && special.cr0 & 1 == 0)
    }
}
