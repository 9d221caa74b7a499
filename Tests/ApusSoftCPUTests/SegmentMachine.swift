import ApusBoot
import ApusCore
import ApusSoftCPU

/// A 2 MiB software machine for the segment-load rules: 32-bit protected mode or 64-bit mode, entered at CPL 0 or 3,
/// with a hand-built GDT and LDT the tests fill. Every exception goes through a ring-0 gate to a HLT per vector, so
/// a case ends by naming the vector and error code it raised; `INT 0x80` (a DPL-3 gate) ends a case that completed.
///
///     0x0500 GDT: null, 0x08 kernel code, 0x10 kernel data, 0x1B user code, 0x23 user data, 0x28 TSS,
///            0x38 LDT (base 0x1000, 16 entries; 16-byte system descriptors in 64-bit mode), 0x48-0xC0 free slots
///     0x1000 LDT   0x2000 IDT   0x3000 TSS (ring-0 stack 0x9000)   0x4000 HLT per vector
///     0x7000 user stack top   0x8000 code   0x5000 data   0x10000 page tables (one 2 MiB user page)
struct SegmentMachine {
    enum Mode { case protected32, long64 }
    let mode: Mode
    let memory: GuestMemory
    let vcpu: any VCPUBackend

    static let gdt: UInt64 = 0x500, ldt: UInt64 = 0x1000, idt: UInt64 = 0x2000, tss: UInt64 = 0x3000
    static let stubs: UInt64 = 0x4000, data: UInt64 = 0x5000, userStack: UInt64 = 0x7000, code: UInt64 = 0x8000
    static let kernelStack: UInt64 = 0x9000, pageTables: UInt64 = 0x10000
    static let kernelCode: UInt16 = 0x08, kernelData: UInt16 = 0x10, userCode: UInt16 = 0x1B, userData: UInt16 = 0x23
    static let taskSelector: UInt16 = 0x28, ldtSelector: UInt16 = 0x38
    /// The first GDT slot the tests own (selector 0x48), and how many there are.
    static let firstFreeSlot = 9, freeSlots = 16
    static let ldtEntries = 16
    static let completed = 0x80

    init(_ mode: Mode, cpl: UInt8, code: [UInt8]) throws {
        self.mode = mode
        memory = try GuestMemory(size: 2 << 20)
        let long = mode == .long64
        try memory.write(code + [0xCD, 0x80], at: GuestAddress(Self.code))
        try memory.write([UInt8](repeating: 0xF4, count: 256), at: GuestAddress(Self.stubs))
        let kernelCodeDescriptor = long ? 0x00AF_9A00_0000_FFFF : 0x00CF_9A00_0000_FFFF as UInt64
        let userCodeDescriptor = long ? 0x00AF_FA00_0000_FFFF : 0x00CF_FA00_0000_FFFF as UInt64
        let taskState = SegmentDescriptor(base: Self.tss, limit: 0x67, type: 0xB, s: false, db: false, g: false)
        let localTable = SegmentDescriptor(base: Self.ldt, limit: UInt32(Self.ldtEntries * 8 - 1), type: 0x2, s: false,
                                           db: false, g: false)
        let gdt: [UInt64] = [0, kernelCodeDescriptor, 0x00CF_9300_0000_FFFF, userCodeDescriptor, 0x00CF_F300_0000_FFFF,
                             taskState.low, taskState.high, localTable.low, localTable.high]
        for (index, descriptor) in gdt.enumerated() { try memory.write(descriptor, at: GuestAddress(Self.gdt + UInt64(index) * 8)) }
        for vector in 0..<256 {
            let handler = Self.stubs + UInt64(vector)
            var low = (handler & 0xFFFF) | UInt64(Self.kernelCode) << 16 | 0x8E << 40 | (handler >> 16) << 48
            if vector == Self.completed { low |= 3 << 45 }
            try memory.write(low, at: GuestAddress(Self.idt + UInt64(vector) * (long ? 16 : 8)))
        }
        if long {
            try memory.write(Self.kernelStack, at: GuestAddress(Self.tss + 4))                   // RSP0
            try memory.write(Self.pageTables + 0x1007, at: GuestAddress(Self.pageTables))         // PML4 -> PDPT
            try memory.write(Self.pageTables + 0x2007, at: GuestAddress(Self.pageTables + 0x1000)) // PDPT -> PD
            try memory.write(UInt64(0x87), at: GuestAddress(Self.pageTables + 0x2000))            // 2 MiB, user
        } else {
            try memory.write(UInt32(Self.kernelStack), at: GuestAddress(Self.tss + 4))           // ESP0
            try memory.write(UInt32(Self.kernelData), at: GuestAddress(Self.tss + 8))            // SS0
        }

        let machine = try SoftCPUHypervisor().makeMachine(memory: memory, options: MachineOptions())
        vcpu = try machine.makeVCPU(index: 0)
        var special = try vcpu.specialRegisters()
        let codeSelector = cpl == 3 ? Self.userCode : Self.kernelCode
        let dataSelector = cpl == 3 ? Self.userData : Self.kernelData
        special.cs = SegmentDescriptor(low: cpl == 3 ? userCodeDescriptor : kernelCodeDescriptor).segment(selector: codeSelector)
        let dataSegment = SegmentDescriptor(low: cpl == 3 ? 0x00CF_F300_0000_FFFF : 0x00CF_9300_0000_FFFF)
            .segment(selector: dataSelector)
        special.ss = dataSegment; special.ds = dataSegment; special.es = dataSegment
        special.fs = dataSegment; special.gs = dataSegment
        special.tr = taskState.segment(selector: Self.taskSelector)
        special.ldt = localTable.segment(selector: Self.ldtSelector)
        special.gdt = DescriptorTable(base: Self.gdt, limit: UInt16((Self.firstFreeSlot + Self.freeSlots) * 8 - 1))
        special.idt = DescriptorTable(base: Self.idt, limit: long ? 0xFFF : 0x7FF)
        special.cr0 = ControlRegister.cr0PE | ControlRegister.cr0ET | ControlRegister.cr0NE
        if long {
            special.cr0 |= ControlRegister.cr0PG
            special.cr3 = Self.pageTables
            special.cr4 = ControlRegister.cr4PAE
            special.efer = ControlRegister.eferLME | ControlRegister.eferLMA
        }
        try vcpu.setSpecialRegisters(special)
        var registers = Registers()
        registers.rip = Self.code
        registers.rsp = cpl == 3 ? Self.userStack : Self.kernelStack
        registers.rflags = 2
        try vcpu.setRegisters(registers)
    }

    func setGDT(_ index: Int, _ descriptor: UInt64) throws {
        try memory.write(descriptor, at: GuestAddress(Self.gdt + UInt64(index) * 8))
    }

    func setLDT(_ index: Int, _ descriptor: UInt64) throws {
        try memory.write(descriptor, at: GuestAddress(Self.ldt + UInt64(index) * 8))
    }

    /// The selector of free GDT slot `n` (0x48 + 8n) with `rpl`.
    static func gdtSelector(_ n: Int, rpl: UInt16 = 0) -> UInt16 { UInt16((firstFreeSlot + n) * 8) | rpl }
    /// The selector of LDT entry `index` with `rpl` (TI set).
    static func localSelector(_ index: Int, rpl: UInt16 = 0) -> UInt16 { UInt16(index * 8) | 4 | rpl }

    /// How a case ended: the vector whose gate it reached and the error code on the ring-0 stack, if it has one.
    struct Outcome: Equatable, CustomStringConvertible {
        var vector: Int
        var errorCode: UInt64?
        var description: String { "vector \(vector)" + (errorCode.map { " error \(String($0, radix: 16))" } ?? "") }
        static let completed = Outcome(vector: SegmentMachine.completed)
        static func gp(_ code: UInt64) -> Outcome { Outcome(vector: 13, errorCode: code) }
        static func np(_ code: UInt64) -> Outcome { Outcome(vector: 11, errorCode: code) }
        static func ss(_ code: UInt64) -> Outcome { Outcome(vector: 12, errorCode: code) }
    }

    func run() throws -> Outcome {
        let exit = try vcpu.run()
        guard case .halt = exit else { return Outcome(vector: -1) }
        let registers = try vcpu.registers()
        let vector = Int(registers.rip) - Int(Self.stubs) - 1
        guard (0..<256).contains(vector) else { return Outcome(vector: -2) }
        guard [8, 10, 11, 12, 13, 14, 17].contains(vector) else { return Outcome(vector: vector) }
        let code = mode == .long64 ? try memory.read(UInt64.self, at: GuestAddress(registers.rsp))
            : UInt64(try memory.read(UInt32.self, at: GuestAddress(registers.rsp)))
        return Outcome(vector: vector, errorCode: code)
    }

    var special: SpecialRegisters { get throws { try vcpu.specialRegisters() } }
    var registers: Registers { get throws { try vcpu.registers() } }

    /// A code or data descriptor with a flat 4 GiB limit: `type` is the 4-bit type field (accessed bit included).
    static func descriptor(type: UInt8, dpl: UInt8 = 0, present: Bool = true, base: UInt64 = 0, long: Bool = false)
        -> UInt64 {
        SegmentDescriptor(base: base, limit: 0xF_FFFF, type: type, s: true, dpl: dpl, present: present, l: long,
                          db: !long, g: true).low
    }
}

/// Instruction bytes for the cases (AX carries selectors; memory operands are absolute in both modes).
enum SegmentCode {
    /// MOV AX, imm16
    static func loadAX(_ value: UInt16) -> [UInt8] { [0x66, 0xB8, UInt8(value & 0xFF), UInt8(value >> 8)] }
    /// MOV Sreg, AX (0 ES, 2 SS, 3 DS, 4 FS, 5 GS)
    static func moveToSegment(_ register: UInt8) -> [UInt8] { [0x8E, 0xC0 | register << 3] }
    static func load(_ register: UInt8, _ selector: UInt16) -> [UInt8] { loadAX(selector) + moveToSegment(register) }
    /// A ModRM (and SIB) naming the absolute address `address` with `reg`, valid in 32-bit and 64-bit mode.
    static func absolute(reg: UInt8, _ address: UInt32) -> [UInt8] {
        [0x04 | reg << 3, 0x25] + (0..<4).map { UInt8(truncatingIfNeeded: address >> (8 * $0)) }
    }
    static let es: UInt8 = 0, ss: UInt8 = 2, ds: UInt8 = 3, fs: UInt8 = 4, gs: UInt8 = 5
}
