public import ApusCore

/// Builds the CPU state a guest is entered with in each mode, writing the GDT and page tables it needs.
///
/// The hidden parts of each segment register are exactly what a CPU would have loaded from the GDT written here
/// (accessed bit set, 4 GiB limits with G=1), so KVM and the software CPU start from the same architectural state.
public enum EntryState {
    /// 16-bit real mode at `segment:offset` with all data segments equal to `segment`.
    public static func realMode(segment: UInt16 = 0, ip: UInt16, sp: UInt16) -> (Registers, SpecialRegisters) {
        var registers = Registers()
        registers.rip = UInt64(ip)
        registers.rsp = UInt64(sp)
        var special = SpecialRegisters()
        special.cs = Segment.realMode(selector: segment, code: true)
        special.ds = Segment.realMode(selector: segment)
        special.es = special.ds; special.fs = special.ds; special.gs = special.ds; special.ss = special.ds
        return (registers, special)
    }

    /// 32-bit protected mode with flat 4 GiB segments and paging off.
    public static func protectedMode(entry: UInt64, stack: UInt64, memory: GuestMemory,
                                     layout: GDTLayout = .guest) throws -> (Registers, SpecialRegisters) {
        try writeGDT(into: memory, layout: layout, longMode: false)
        var registers = Registers()
        registers.rip = entry
        registers.rsp = stack
        var special = flatSegments(layout: layout, longMode: false)
        special.cr0 = ControlRegister.cr0PE | ControlRegister.cr0ET
        return (registers, special)
    }

    /// 64-bit long mode, paging on with the first 4 GiB identity-mapped by 2 MiB pages.
    public static func longMode(entry: UInt64, stack: UInt64, memory: GuestMemory,
                                layout: GDTLayout = .guest) throws -> (Registers, SpecialRegisters) {
        try writeGDT(into: memory, layout: layout, longMode: true)
        try writeIdentityPageTables(into: memory)
        var registers = Registers()
        registers.rip = entry
        registers.rsp = stack
        var special = flatSegments(layout: layout, longMode: true)
        special.cr0 = ControlRegister.cr0PE | ControlRegister.cr0MP | ControlRegister.cr0ET | ControlRegister.cr0NE
            | ControlRegister.cr0PG
        special.cr3 = LowMemory.pml4
        special.cr4 = ControlRegister.cr4PAE
        special.efer = ControlRegister.eferLME | ControlRegister.eferLMA
        return (registers, special)
    }

    static func flatSegments(layout: GDTLayout, longMode: Bool) -> SpecialRegisters {
        var special = SpecialRegisters()
        special.cs = Segment(base: 0, limit: 0xFFFF_FFFF, selector: layout.codeSelector, type: 0xB, dpl: 0,
                             db: !longMode, s: true, l: longMode, g: true)
        let data = Segment(base: 0, limit: 0xFFFF_FFFF, selector: layout.dataSelector, type: 0x3, dpl: 0,
                           db: true, s: true, l: false, g: true)
        special.ds = data; special.es = data; special.fs = data; special.gs = data; special.ss = data
        special.tr = Segment(base: LowMemory.tss, limit: LowMemory.tssLimit, selector: layout.taskSelector,
                             type: 0xB, s: false)
        special.ldt = Segment(base: 0, limit: 0, selector: 0, type: 0x2, present: false, s: false, unusable: true)
        special.gdt = DescriptorTable(base: LowMemory.gdt, limit: UInt16(layout.taskSelector) + 15)
        special.idt = DescriptorTable(base: 0, limit: 0)
        return special
    }

    /// Null, then code and data at the layout's selectors, then a (busy) TSS descriptor.
    static func writeGDT(into memory: GuestMemory, layout: GDTLayout, longMode: Bool) throws {
        let code: UInt64 = longMode ? 0x00AF_9B00_0000_FFFF : 0x00CF_9B00_0000_FFFF
        let data: UInt64 = 0x00CF_9300_0000_FFFF
        let entries = Int(layout.taskSelector / 8) + 2
        var gdt = [UInt64](repeating: 0, count: entries)
        gdt[Int(layout.codeSelector / 8)] = code
        gdt[Int(layout.dataSelector / 8)] = data
        let (tssLow, tssHigh) = tssDescriptor(base: LowMemory.tss, limit: LowMemory.tssLimit)
        gdt[Int(layout.taskSelector / 8)] = tssLow
        gdt[Int(layout.taskSelector / 8) + 1] = tssHigh
        for (index, descriptor) in gdt.enumerated() {
            try memory.write(descriptor, at: GuestAddress(LowMemory.gdt + UInt64(index * 8)))
        }
        try memory.fill(0, at: GuestAddress(LowMemory.tss), count: Int(LowMemory.tssLimit) + 1)
    }

    /// A 16-byte system descriptor for a busy 64-bit TSS (type 0xB); in 32-bit mode the high half is ignored.
    static func tssDescriptor(base: UInt64, limit: UInt32) -> (UInt64, UInt64) {
        var low = UInt64(limit & 0xFFFF) | (base & 0xFF_FFFF) << 16
        low |= UInt64(0x8B) << 40 | UInt64((limit >> 16) & 0xF) << 48 | ((base >> 24) & 0xFF) << 56
        return (low, base >> 32)
    }

    static func writeIdentityPageTables(into memory: GuestMemory) throws {
        let present: UInt64 = 0x1, writable: UInt64 = 0x2, largePage: UInt64 = 0x80
        try memory.fill(0, at: GuestAddress(LowMemory.pml4), count: 0x2000)
        try memory.write(LowMemory.pdpt | present | writable, at: GuestAddress(LowMemory.pml4))
        for gigabyte in 0..<UInt64(4) {
            let directory = LowMemory.pageDirectories + gigabyte * 0x1000
            try memory.write(directory | present | writable, at: GuestAddress(LowMemory.pdpt + gigabyte * 8))
            for entry in 0..<UInt64(512) {
                let frame = (gigabyte << 30) | (entry << 21)
                try memory.write(frame | present | writable | largePage, at: GuestAddress(directory + entry * 8))
            }
        }
    }
}
