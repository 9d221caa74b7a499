import ApusCore

/// Runs one encoding for one instruction on a fresh software CPU core in real-address, 16- or 32-bit protected or
/// 64-bit mode, and says how it ended: the coverage report and its tests ask it whether the interpreter implements an entry
/// of the opcode maps. The setup is minimal and the same for every probe: CPL 0, flat segments, SSE enabled
/// (CR4.OSFXSR/OSXMMEXCPT), every general register zero so [BX+SI], [EAX] and [RAX] address guest-physical 0, code
/// at 0x8000 followed by zeroes (so displacements and immediates are 0), a stack below 0x7000, and in 64-bit mode an
/// identity-mapped first 2 MiB.
public final class OpcodeProbe {
    public enum Outcome: Equatable, Sendable {
        /// The instruction ran (including HLT, and a fault other than #UD: it was decoded and understood).
        case executed
        /// A port or MMIO read stopped it for the VMM: it was decoded and understood.
        case exit
        case fault(vector: UInt8)

        public var isInvalidOpcode: Bool { self == .fault(vector: 6) }
    }

    static let codeBase: UInt64 = 0x8000
    static let stackTop: UInt64 = 0x7000
    static let gdtBase: UInt64 = 0x500
    static let pageTables: UInt64 = 0x10000
    let memory: GuestMemory
    let model: CPUModel

    public init(model: CPUModel = .default) throws {
        memory = try GuestMemory(size: 2 << 20)
        self.model = model
    }

    /// `sixteenBitCode`: in protected mode, a code segment with D = 0 (16-bit operands and addresses).
    public func run(_ bytes: [UInt8], in mode: CPUModes, sixteenBitCode: Bool = false) throws -> Outcome {
        try memory.write([UInt8](repeating: 0, count: Int(Self.codeBase) + 64), at: GuestAddress(0))
        try memory.write(bytes, at: GuestAddress(Self.codeBase))
        let core = CPUCore(memory: memory, model: model)
        core.sregs = try specialRegisters(for: mode, sixteenBitCode: sixteenBitCode)
        core.rip = Self.codeBase
        core.gpr[4] = Self.stackTop
        do {
            _ = try core.step()
            return .executed
        } catch let fault as CPUFault {
            return .fault(vector: fault.vector.rawValue)
        } catch is ExitRequest {
            return .exit
        }
    }

    private func specialRegisters(for mode: CPUModes, sixteenBitCode: Bool) throws -> SpecialRegisters {
        var special = SpecialRegisters()
        special.cr0 = ControlRegister.cr0ET | ControlRegister.cr0NE | ControlRegister.cr0MP
        special.cr4 = ControlRegister.cr4OSFXSR | ControlRegister.cr4OSXMMEXCPT
        if mode == .real { return special }
        let longMode = mode == .long64
        let code: UInt64 = longMode ? 0x00AF_9B00_0000_FFFF : (sixteenBitCode ? 0x008F_9B00_0000_FFFF : 0x00CF_9B00_0000_FFFF)
        let gdt: [UInt64] = [0, code, 0x00CF_9300_0000_FFFF]
        for (index, descriptor) in gdt.enumerated() {
            try memory.write(descriptor, at: GuestAddress(Self.gdtBase + UInt64(index) * 8))
        }
        special.gdt = DescriptorTable(base: Self.gdtBase, limit: UInt16(gdt.count * 8 - 1))
        special.cs = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x08, type: 0xB, db: !longMode && !sixteenBitCode,
                             l: longMode, g: true)
        let data = Segment(base: 0, limit: 0xFFFF_FFFF, selector: 0x10, type: 0x3, db: true, g: true)
        special.ds = data; special.es = data; special.ss = data; special.fs = data; special.gs = data
        special.cr0 |= ControlRegister.cr0PE
        if longMode {
            // PML4 -> PDPT -> one 2 MiB page at 0, writable and user-accessible.
            try memory.write(UInt64(Self.pageTables + 0x1000 | 7), at: GuestAddress(Self.pageTables))
            try memory.write(UInt64(Self.pageTables + 0x2000 | 7), at: GuestAddress(Self.pageTables + 0x1000))
            try memory.write(UInt64(0x87), at: GuestAddress(Self.pageTables + 0x2000))
            special.cr3 = Self.pageTables
            special.cr0 |= ControlRegister.cr0PG
            special.cr4 |= ControlRegister.cr4PAE
            special.efer = ControlRegister.eferLME | ControlRegister.eferLMA | ControlRegister.eferSCE
                | ControlRegister.eferNXE
        }
        return special
    }
}
