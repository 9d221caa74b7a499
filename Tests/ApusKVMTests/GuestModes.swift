import ApusCore

/// Puts a vCPU straight into 32-bit protected mode or 64-bit long mode, the way the loader does for ELF guests
/// (docs/GUEST-ABI.md): a flat GDT at 0x500 and, for long mode, identity-mapping page tables at 0x9000.
enum GuestModes {
    static let gdtAddress: UInt64 = 0x500
    static let pml4Address: UInt64 = 0x9000
    static let pdptAddress: UInt64 = 0xA000
    static let pdAddress: UInt64 = 0xB000

    /// Null, 32-bit code (0x08), data (0x10), 64-bit code (0x18), then user (DPL 3) data (0x20) and 64-bit code
    /// (0x28); all flat: base 0, limit 4 GiB.
    static let gdt: [UInt64] = [0, 0x00CF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF, 0x00AF_9B00_0000_FFFF,
                                0x00CF_F300_0000_FFFF, 0x00AF_FB00_0000_FFFF]

    static let code32 = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x08, type: 0xB, db: true, g: true)
    static let data32 = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x10, type: 0x3, db: true, g: true)
    static let code64 = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x18, type: 0xB, l: true, g: true)
    static let userData = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x23, type: 0x3, dpl: 3, db: true, g: true)
    static let userCode64 = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x2B, type: 0xB, dpl: 3, l: true,
                                    g: true)

    static let protectedCR0 = ControlRegister.cr0PE | ControlRegister.cr0MP | ControlRegister.cr0ET
        | ControlRegister.cr0NE

    static func enterProtectedMode(_ vcpu: any VCPUBackend, memory: GuestMemory, entry: UInt64) throws {
        try writeGDT(memory)
        var special = try vcpu.specialRegisters()
        special.cs = code32
        special.ds = data32; special.es = data32; special.fs = data32; special.gs = data32; special.ss = data32
        special.gdt = DescriptorTable(base: gdtAddress, limit: UInt16(gdt.count * 8 - 1))
        special.cr0 = protectedCR0
        try vcpu.setSpecialRegisters(special)
        try setEntry(vcpu, entry)
    }

    /// Long mode at CPL 0, or with `user` at CPL 3 with IOPL 3 (so `out` still reaches the VMM). CPL 3 code runs
    /// natively even on the nested build hosts, whose emulator of kernel-mode code lacks many instructions.
    static func enterLongMode(_ vcpu: any VCPUBackend, memory: GuestMemory, entry: UInt64, user: Bool = false) throws {
        try writeGDT(memory)
        // One 2 MiB page covers the whole test machine: PML4[0] -> PDPT[0] -> PD[0] (present, writable, user, PS).
        try memory.write(pdptAddress | 0x7, at: GuestAddress(pml4Address))
        try memory.write(pdAddress | 0x7, at: GuestAddress(pdptAddress))
        try memory.write(UInt64(0x87), at: GuestAddress(pdAddress))
        var special = try vcpu.specialRegisters()
        let data = user ? userData : data32
        special.cs = user ? userCode64 : code64
        special.ds = data; special.es = data; special.fs = data; special.gs = data; special.ss = data
        special.gdt = DescriptorTable(base: gdtAddress, limit: UInt16(gdt.count * 8 - 1))
        special.cr0 = protectedCR0 | ControlRegister.cr0PG
        special.cr3 = pml4Address
        special.cr4 = ControlRegister.cr4PAE
        special.efer = ControlRegister.eferLME | ControlRegister.eferLMA
        try vcpu.setSpecialRegisters(special)
        try setEntry(vcpu, entry, rflags: user ? 0x3002 : 0x2)
    }

    private static func writeGDT(_ memory: GuestMemory) throws {
        for (index, descriptor) in gdt.enumerated() {
            try memory.write(descriptor, at: GuestAddress(gdtAddress + UInt64(index * 8)))
        }
    }

    private static func setEntry(_ vcpu: any VCPUBackend, _ entry: UInt64, rflags: UInt64 = 0x2) throws {
        var registers = Registers()
        registers.rip = entry
        registers.rflags = rflags
        registers.rsp = 0x80000
        try vcpu.setRegisters(registers)
    }
}
