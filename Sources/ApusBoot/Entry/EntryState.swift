public import ApusCore

/// Builds the CPU state a guest is entered with in each mode, writing the GDT, TSS and page tables it needs.
///
/// Each segment register's hidden part is exactly what a CPU would have loaded from the GDT written here (the
/// descriptors are stored with the accessed bit set, as a real load leaves them), so KVM and the software CPU start
/// from the same architectural state. Interrupts are off (RFLAGS = 0x2) and the IDT is empty in the 32- and 64-bit
/// states: an exception before the guest installs its own IDT ends the run with a triple fault.
public enum EntryState {
    /// 16-bit real mode at `segment:ip` with DS = ES = FS = GS = SS = `segment`; CR0 keeps its reset value.
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

    /// 32-bit protected mode with flat 4 GiB code and data segments and paging off.
    /// CR0 = PE | MP | ET | NE: the x87 reports errors natively and WAIT honours TS, as an OS would set it.
    public static func protectedMode(entry: UInt32, stack: UInt32, memory: GuestMemory,
                                     layout: GDTLayout = .guest) throws -> (Registers, SpecialRegisters) {
        var special = try installGDT(into: memory, layout: layout, longMode: false)
        special.cr0 = ControlRegister.cr0PE | ControlRegister.cr0MP | ControlRegister.cr0ET | ControlRegister.cr0NE
        var registers = Registers()
        registers.rip = UInt64(entry)
        registers.rsp = UInt64(stack)
        return (registers, special)
    }

    /// 64-bit long mode: CR0 = PE | MP | ET | NE | PG, CR4 = PAE, EFER = LME | LMA, CR3 = the identity map of the
    /// first 4 GiB (2 MiB pages) at 0x9000.
    public static func longMode(entry: UInt64, stack: UInt64, memory: GuestMemory,
                                layout: GDTLayout = .guest) throws -> (Registers, SpecialRegisters) {
        var special = try installGDT(into: memory, layout: layout, longMode: true)
        try IdentityPageTables.write(into: memory)
        special.cr0 = ControlRegister.cr0PE | ControlRegister.cr0MP | ControlRegister.cr0ET | ControlRegister.cr0NE
            | ControlRegister.cr0PG
        special.cr3 = LowMemory.pml4
        special.cr4 = ControlRegister.cr4PAE
        special.efer = ControlRegister.eferLME | ControlRegister.eferLMA
        var registers = Registers()
        registers.rip = entry
        registers.rsp = stack
        return (registers, special)
    }

    /// Writes null, code, data and a busy TSS descriptor at 0x500 (other slots null) and a zeroed TSS at 0x600, and
    /// returns the segment, task and descriptor-table registers loaded from them.
    static func installGDT(into memory: GuestMemory, layout: GDTLayout,
                           longMode: Bool) throws -> SpecialRegisters {
        let code = SegmentDescriptor.flatCode(longMode: longMode)
        let data = SegmentDescriptor.flatData
        let task = SegmentDescriptor.busyTSS(base: LowMemory.tss, limit: LowMemory.tssLimit)
        var table = [UInt64](repeating: 0, count: layout.tableSize / 8)
        table[Int(layout.codeSelector / 8)] = code.low
        table[Int(layout.dataSelector / 8)] = data.low
        table[Int(layout.taskSelector / 8)] = task.low
        table[Int(layout.taskSelector / 8) + 1] = task.high
        try memory.placeWords(table, at: LowMemory.gdt, what: "the loader's GDT")

        // The TSS is all zeros except its I/O map base, which points past the limit: no I/O permission bitmap.
        var tss = [UInt8](repeating: 0, count: Int(LowMemory.tssLimit) + 1)
        tss[0x66] = UInt8(LowMemory.tssLimit + 1)
        try memory.place(tss, at: LowMemory.tss, what: "the loader's TSS")

        var special = SpecialRegisters()
        special.cs = code.segment(selector: layout.codeSelector)
        let dataSegment = data.segment(selector: layout.dataSelector)
        special.ds = dataSegment; special.es = dataSegment; special.fs = dataSegment
        special.gs = dataSegment; special.ss = dataSegment
        special.tr = task.segment(selector: layout.taskSelector)
        // No LDT: selector 0 leaves LDTR unusable, as after reset followed by LLDT 0.
        special.ldt = Segment(base: 0, limit: 0, selector: 0, type: 0x2, present: false, s: false, unusable: true)
        special.gdt = DescriptorTable(base: LowMemory.gdt, limit: UInt16(layout.tableSize - 1))
        special.idt = DescriptorTable(base: 0, limit: 0)
        return special
    }
}
