import ApusBoot
import ApusCore
import Testing

@Suite struct EntryStateTests {
    func word(_ memory: GuestMemory, _ address: UInt64) throws -> UInt64 {
        try memory.read(UInt64.self, at: GuestAddress(address))
    }

    @Test func realModeSegmentsAreSelectorTimesSixteen() {
        let (registers, special) = EntryState.realMode(segment: 0x1234, ip: 0x10, sp: 0x7000)
        #expect(registers.rip == 0x10 && registers.rsp == 0x7000 && registers.rflags == 0x2)
        #expect(special.cs == Segment(base: 0x12340, limit: 0xFFFF, selector: 0x1234, type: 0xB))
        for data in [special.ds, special.es, special.fs, special.gs, special.ss] {
            #expect(data == Segment(base: 0x12340, limit: 0xFFFF, selector: 0x1234, type: 0x3))
        }
        #expect(special.cr0 & ControlRegister.cr0PE == 0 && special.efer == 0)
        #expect(special.idt == DescriptorTable(base: 0, limit: 0x3FF))
    }

    @Test func protectedModeHasFlatSegmentsAndNoPaging() throws {
        let memory = try GuestMemory(size: 1 << 20)
        let (registers, special) = try EntryState.protectedMode(entry: 0x100000, stack: 0x80000, memory: memory)
        #expect(registers.rip == 0x100000 && registers.rsp == 0x80000 && registers.rflags == 0x2)
        #expect(special.cr0 == 0x33)                                    // PE | MP | ET | NE
        #expect(special.cr4 == 0 && special.efer == 0 && special.cr3 == 0)
        #expect(special.cs == Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x08, type: 0xB, db: true, g: true))
        let data = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x10, type: 0x3, db: true, g: true)
        for segment in [special.ds, special.es, special.fs, special.gs, special.ss] { #expect(segment == data) }
        #expect(try word(memory, 0x500) == 0)
        #expect(try word(memory, 0x508) == 0x00CF_9B00_0000_FFFF)
        #expect(try word(memory, 0x510) == 0x00CF_9300_0000_FFFF)
        #expect(special.gdt == DescriptorTable(base: 0x500, limit: 0x27))
    }

    @Test func longModeControlRegistersAndSegments() throws {
        let memory = try GuestMemory(size: 1 << 20)
        let (registers, special) = try EntryState.longMode(entry: 0x100000, stack: 0x80000, memory: memory)
        #expect(registers.rip == 0x100000 && registers.rsp == 0x80000 && registers.rflags == 0x2)
        #expect(special.cr0 == 0x8000_0033)                             // PE | MP | ET | NE | PG
        #expect(special.cr4 == 0x20)                                    // PAE
        #expect(special.efer == 0x500)                                  // LME | LMA
        #expect(special.cr3 == 0x9000)
        #expect(special.cs == Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x08, type: 0xB, db: false, l: true,
                                      g: true))
        let data = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x10, type: 0x3, db: true, g: true)
        for segment in [special.ds, special.es, special.fs, special.gs, special.ss] { #expect(segment == data) }
        #expect(special.tr == Segment(base: 0x600, limit: 0x67, selector: 0x18, type: 0xB, s: false))
        #expect(special.ldt.unusable && !special.ldt.present && special.ldt.selector == 0)
        #expect(special.idt == DescriptorTable(base: 0, limit: 0))
        #expect(try word(memory, 0x508) == 0x00AF_9B00_0000_FFFF)
        #expect(try word(memory, 0x510) == 0x00CF_9300_0000_FFFF)
        #expect(try word(memory, 0x518) == 0x0000_8B00_0600_0067)      // busy TSS, base 0x600
        #expect(try word(memory, 0x520) == 0)
        // The TSS's I/O map base points past its limit: no I/O permission bitmap.
        #expect(try memory.read(UInt16.self, at: GuestAddress(0x666)) == 0x68)
    }

    /// Every cached segment must equal what a CPU would load from the GDT the builder wrote.
    @Test(arguments: [GDTLayout.guest, GDTLayout.linux], [false, true])
    func segmentCachesMatchTheWrittenGDT(layout: GDTLayout, longMode: Bool) throws {
        let memory = try GuestMemory(size: 1 << 20)
        let special = longMode
            ? try EntryState.longMode(entry: 0x100000, stack: 0, memory: memory, layout: layout).1
            : try EntryState.protectedMode(entry: 0x100000, stack: 0, memory: memory, layout: layout).1
        func loaded(_ selector: UInt16) throws -> Segment {
            let slot = special.gdt.base + UInt64(selector & ~7)
            #expect(UInt64(selector | 7) <= UInt64(special.gdt.limit), "selector \(selector) is past the GDT limit")
            let descriptor = SegmentDescriptor(low: try word(memory, slot), high: try word(memory, slot + 8))
            return descriptor.segment(selector: selector)
        }
        #expect(special.cs.selector == layout.codeSelector && special.ss.selector == layout.dataSelector)
        #expect(try loaded(special.cs.selector) == special.cs)
        for segment in [special.ds, special.es, special.fs, special.gs, special.ss] {
            #expect(try loaded(segment.selector) == segment)
        }
        #expect(try loaded(special.tr.selector) == special.tr)
        #expect(special.gdt.limit == UInt16(layout.taskSelector) + 15)
        // Slots no selector names are null.
        let used = [layout.codeSelector, layout.dataSelector, layout.taskSelector, layout.taskSelector + 8]
        for selector in stride(from: UInt16(0), to: special.gdt.limit, by: 8) where !used.contains(selector) {
            #expect(try word(memory, special.gdt.base + UInt64(selector)) == 0)
        }
    }

    @Test func longModePageTablesIdentityMapFourGiB() throws {
        let memory = try GuestMemory(size: 1 << 20)
        try memory.fill(0xAA, at: GuestAddress(0x9000), count: 0x6000)
        _ = try EntryState.longMode(entry: 0x100000, stack: 0x80000, memory: memory)
        #expect(try word(memory, 0x9000) == 0xA003)                     // PML4[0] -> PDPT, present, writable
        for index: UInt64 in 1..<512 { #expect(try word(memory, 0x9000 + index * 8) == 0) }
        for gigabyte: UInt64 in 0..<4 {
            #expect(try word(memory, 0xA000 + gigabyte * 8) == (0xB000 + gigabyte * 0x1000) | 0x3)
        }
        for index: UInt64 in 4..<512 { #expect(try word(memory, 0xA000 + index * 8) == 0) }
        // Walk a few addresses through the tables: each 2 MiB page maps to itself.
        for address: UInt64 in [0, 0x1F_FFFF, 0x100_0000, 0x3FFF_FFFF, 0x4000_0000, 0xD000_0000, 0xFFFF_FFFF] {
            let pdpte = try word(memory, 0xA000 + (address >> 30) * 8)
            let pde = try word(memory, (pdpte & ~0xFFF) + ((address >> 21) & 0x1FF) * 8)
            #expect(pde & 0x83 == 0x83, "PDE for \(address) must be present, writable, 2 MiB")
            #expect((pde & 0xF_FFFF_FFE0_0000) | (address & 0x1F_FFFF) == address)
        }
    }

    @Test func memoryTooSmallForTheTablesIsAnError() throws {
        let memory = try GuestMemory(size: 0x8000)
        #expect(throws: BootError.memoryTooSmall(what: "the loader's page tables", needed: 0xF000, available: 0x8000)) {
            try EntryState.longMode(entry: 0x1000, stack: 0x2000, memory: memory)
        }
    }
}
