import ApusBoot
import ApusCore

/// The machine the CPL3 runner builds: a flat 64-bit kernel (ring 0) whose only code is an IRETQ into the case and
/// one HLT per IDT vector, and user pages with the protections the paging-fault cases probe.
///
///     0x1000 GDT: null, 0x08 kernel code, 0x10 kernel data, 0x1B user data, 0x23 user code, 0x28 TSS
///     0x2000 IDT (256 interrupt gates)       0x3000 TSS (RSP0 = 0x7000)
///     0x4000 HLT per vector (vector v at 0x4000 + v), SYSCALL's HLT at 0x4100, IRETQ at 0x4200
///     0x5000 the segment-loads group's LDT (SegmentTables)
///     0x6000 kernel stack                     0x8000 PML4, 0x9000 PDPT, 0xA000 PD, 0xB000-0xCFFF page tables
///     0x100000 user code (two pages, read-only)   0x180000 user stack page
///     0x200000 user data (two pages)   0x202000 not present   0x203000 read-only   0x204000 supervisor
///     0x205000 user, no-execute         0x400000 and up: not mapped
enum UserModeLayout {
    static let gdt: UInt64 = 0x1000, idt: UInt64 = 0x2000, tss: UInt64 = 0x3000
    static let vectorStubs: UInt64 = 0x4000, syscallStub: UInt64 = 0x4100, trampoline: UInt64 = 0x4200
    static let kernelStackTop: UInt64 = 0x7000
    static let pml4: UInt64 = 0x8000
    static let codeBase: UInt64 = 0x100000
    static let stackPage: UInt64 = 0x180000, userStackTop: UInt64 = 0x180800
    static let data: UInt64 = 0x200000
    static let notPresent: UInt64 = 0x202000, readOnly: UInt64 = 0x203000, supervisor: UInt64 = 0x204000
    static let noExecute: UInt64 = 0x205000
    static let unmapped: UInt64 = 0x400000
    static let memorySize: UInt64 = 4 << 20

    static let kernelCode: UInt16 = 0x08, kernelData: UInt16 = 0x10, userData: UInt16 = 0x1B, userCode: UInt16 = 0x23
    static let taskSelector: UInt16 = 0x28
    /// Vectors user code may raise with INT n (as Linux allows INT3 and INTO); 0x90-0x97 are user gates marked
    /// not present (#NP).
    static func gateIsUser(_ vector: Int) -> Bool { vector == 3 || vector == 4 || (0x80...0x97).contains(vector) }
    static func gateIsPresent(_ vector: Int) -> Bool { !(0x90...0x97).contains(vector) }

    /// Pages whose contents a case may change: reset before and hashed after every case.
    static let writablePages: [UInt64] = [stackPage, data, data + 0x1000, noExecute]
    /// Pages filled with the pattern once (cases only read them).
    static let readablePages: [UInt64] = [readOnly, supervisor]
    static let pattern = (0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }

    static let star: UInt64 = UInt64(kernelCode) << 32 | UInt64(0x10) << 48
    static let syscallFlagMask: UInt64 = 0x4700   // TF IF DF NT, as Linux masks them

    static let descriptors: [SegmentDescriptor] = [
        SegmentDescriptor(base: 0, limit: 0, type: 0, s: false, present: false, db: false, g: false),
        SegmentDescriptor.flatCode(longMode: true),
        SegmentDescriptor.flatData,
        SegmentDescriptor(base: 0, limit: 0xF_FFFF, type: 0x3, s: true, dpl: 3, db: true, g: true),
        SegmentDescriptor(base: 0, limit: 0xF_FFFF, type: 0xB, s: true, dpl: 3, l: true, db: false, g: true),
    ]
    static let task = SegmentDescriptor.busyTSS(base: tss, limit: 0x67)

    /// Writes the tables, the ring-0 code and the page tables into `memory`; returns the special registers.
    /// `segmentTables`: the GDT gains SegmentTables' descriptors and LDTR names its LDT (the segment-loads group).
    static func install(into memory: GuestMemory, segmentTables: Bool = false) throws -> SpecialRegisters {
        try memory.write(words(descriptors.map(\.low) + [task.low, task.high]), at: GuestAddress(gdt))
        var gates: [UInt64] = []
        for vector in 0..<256 {
            let target = vectorStubs + UInt64(vector)
            var low = (target & 0xFFFF) | UInt64(kernelCode) << 16 | 0xE << 40 | (target >> 16 & 0xFFFF) << 48
            if gateIsUser(vector) { low |= 3 << 45 }
            if gateIsPresent(vector) { low |= 1 << 47 }
            gates += [low, target >> 32]
        }
        try memory.write(words(gates), at: GuestAddress(idt))
        var taskState = [UInt8](repeating: 0, count: 0x68)
        taskState.replaceSubrange(4..<12, with: X86.bytes(kernelStackTop, 8))
        taskState[0x66] = 0x68                                          // no I/O permission bitmap
        try memory.write(taskState, at: GuestAddress(tss))
        try memory.fill(0xF4, at: GuestAddress(vectorStubs), count: 0x101)
        try memory.write(X86.iretq, at: GuestAddress(trampoline))
        try memory.write(words(pageTables()), at: GuestAddress(pml4))
        for page in readablePages { try memory.write(pattern, at: GuestAddress(page)) }

        var special = SpecialRegisters()
        special.cs = descriptors[1].segment(selector: kernelCode)
        special.ss = descriptors[2].segment(selector: kernelData)
        let user = descriptors[3].segment(selector: userData)
        special.ds = user; special.es = user; special.fs = user; special.gs = user
        special.tr = task.segment(selector: taskSelector)
        special.ldt = Segment(base: 0, limit: 0, selector: 0, type: 0x2, present: false, s: false, unusable: true)
        special.gdt = DescriptorTable(base: gdt, limit: UInt16(8 * (descriptors.count + 2) - 1))
        if segmentTables {
            try memory.write(SegmentTables.gdtBytes, at: GuestAddress(gdt))
            try memory.write(SegmentTables.ldtBytes, at: GuestAddress(SegmentTables.ldtBase))
            special.gdt = DescriptorTable(base: gdt, limit: SegmentTables.gdtLimit)
            special.ldt = SegmentTables.localTableSegment
        }
        special.idt = DescriptorTable(base: idt, limit: 0xFFF)
        special.cr0 = ControlRegister.cr0PE | ControlRegister.cr0MP | ControlRegister.cr0ET | ControlRegister.cr0NE
            | ControlRegister.cr0WP | ControlRegister.cr0PG
        special.cr3 = pml4
        special.cr4 = ControlRegister.cr4PAE | ControlRegister.cr4OSFXSR | ControlRegister.cr4OSXMMEXCPT
        special.efer = ControlRegister.eferLME | ControlRegister.eferLMA | ControlRegister.eferNXE | ControlRegister.eferSCE
        return special
    }

    /// PML4 → PDPT → PD → two page tables of 4 KiB pages for the first 4 MiB: supervisor read/write, except the
    /// user pages listed above.
    static func pageTables() -> [UInt64] {
        let present: UInt64 = 1, writable: UInt64 = 2, user: UInt64 = 4, noExecute: UInt64 = 1 << 63
        var words = [UInt64](repeating: 0, count: 512 * 5)
        words[0] = (pml4 + 0x1000) | present | writable | user
        words[512] = (pml4 + 0x2000) | present | writable | user
        words[1024] = (pml4 + 0x3000) | present | writable | user
        words[1025] = (pml4 + 0x4000) | present | writable | user
        func protect(_ address: UInt64, _ flags: UInt64) { words[1536 + Int(address >> 12)] = address | flags }
        for page in stride(from: UInt64(0), to: memorySize, by: 0x1000) { protect(page, present | writable) }
        protect(codeBase, present | user)
        protect(codeBase + 0x1000, present | user)
        protect(stackPage, present | writable | user)
        protect(data, present | writable | user)
        protect(data + 0x1000, present | writable | user)
        protect(notPresent, 0)
        protect(readOnly, present | user)
        protect(Self.noExecute, present | writable | user | noExecute)
        return words
    }

    static func words(_ values: [UInt64]) -> [UInt8] { values.flatMap { X86.bytes($0, 8) } }
}
