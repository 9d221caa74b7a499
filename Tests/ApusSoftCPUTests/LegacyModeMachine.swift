import ApusCore
import ApusSoftCPU

/// A 1 MiB software machine in real mode or 32-bit protected mode with `code` at 0x1000, a stack below 0x8000, and
/// one HLT per vector at 0x600 + vector, so a halt at 0x601 + v means vector v was delivered.
///
/// Protected mode: GDT at 0x500 with 0x08 flat 32-bit code, 0x10 flat data, 0x18 a second flat 32-bit code segment,
/// 0x20 a 32-bit call gate to 0x18:gateTarget (DPL 0), and 0x28 a 16-bit code segment; IDT at 0x800 (32-bit gates).
struct LegacyModeMachine {
    enum Mode { case real, protected32 }
    let memory: GuestMemory
    let vcpu: any VCPUBackend
    static let codeBase: UInt64 = 0x1000
    static let stubs: UInt64 = 0x600
    static let gateTarget: UInt64 = 0x3000

    init(_ mode: Mode, code: [UInt8], gateCode: [UInt8] = [0xF4]) throws {
        memory = try GuestMemory(size: 1 << 20)
        try memory.write(code, at: GuestAddress(Self.codeBase))
        try memory.write(gateCode, at: GuestAddress(Self.gateTarget))
        try memory.write([UInt8](repeating: 0xF4, count: 256), at: GuestAddress(Self.stubs))
        let machine = try SoftCPUHypervisor().makeMachine(memory: memory, options: MachineOptions())
        vcpu = try machine.makeVCPU(index: 0)
        var special = try vcpu.specialRegisters()
        var registers = Registers()
        registers.rip = Self.codeBase
        registers.rsp = 0x8000
        registers.rflags = 2
        switch mode {
        case .real:
            for vector in 0..<256 {
                try memory.write(UInt32(Self.stubs) + UInt32(vector), at: GuestAddress(UInt64(vector) * 4))
            }
            let code = Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0xB)
            let data = Segment(base: 0, limit: 0xFFFF, selector: 0, type: 0x3)
            special.cs = code
            special.ds = data; special.es = data; special.ss = data; special.fs = data; special.gs = data
            special.idt = DescriptorTable(base: 0, limit: 0x3FF)
            special.cr0 = ControlRegister.cr0ET
        case .protected32:
            let gate: UInt64 = (Self.gateTarget & 0xFFFF) | 0x18 << 16 | 0x8C << 40 | (Self.gateTarget >> 16) << 48
            let gdt: [UInt64] = [0, 0x00CF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF, 0x00CF_9B00_0000_FFFF, gate,
                                 0x0000_9B00_0000_FFFF]
            for (index, descriptor) in gdt.enumerated() {
                try memory.write(descriptor, at: GuestAddress(0x500 + UInt64(index) * 8))
            }
            for vector in 0..<256 {
                let handler = Self.stubs + UInt64(vector)
                let low = (handler & 0xFFFF) | 0x08 << 16 | 0x8E << 40 | (handler >> 16) << 48
                try memory.write(low, at: GuestAddress(0x800 + UInt64(vector) * 8))
            }
            special.cs = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x08, type: 0xB, db: true, g: true)
            let data = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x10, type: 0x3, db: true, g: true)
            special.ds = data; special.es = data; special.ss = data; special.fs = data; special.gs = data
            special.gdt = DescriptorTable(base: 0x500, limit: UInt16(gdt.count * 8 - 1))
            special.idt = DescriptorTable(base: 0x800, limit: 0x7FF)
            special.cr0 = ControlRegister.cr0PE | ControlRegister.cr0ET
        }
        try vcpu.setSpecialRegisters(special)
        try vcpu.setRegisters(registers)
    }

    /// Runs to the first HLT; returns the vector whose stub halted, or nil for a HLT elsewhere.
    func run() throws -> Int? {
        guard case .halt = try vcpu.run() else { return -1 }
        let rip = try vcpu.registers().rip
        return rip > Self.stubs && rip <= Self.stubs + 256 ? Int(rip - Self.stubs - 1) : nil
    }

    var registers: Registers { get throws { try vcpu.registers() } }
}
