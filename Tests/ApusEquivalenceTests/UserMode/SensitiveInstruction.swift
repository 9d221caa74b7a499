import ApusCore

/// x86's sensitive-but-unprivileged instructions: at CPL3 without CR4.UMIP they store a register only ring 0 should
/// see. Where a nested KVM runs guest ring 3 directly on a host CPU without UMIP, they store the *host's* registers,
/// so KVM cannot referee them there (Popek and Goldberg's classic counterexample); `SensitiveInstructionCheck` finds out.
enum SensitiveInstruction: String, CaseIterable, Sendable {
    case sgdt, sidt, sldt, str, smsw

    /// The instruction storing to [rax].
    var code: [UInt8] {
        switch self {
        case .sgdt: return [0x0F, 0x01, 0x00]
        case .sidt: return [0x0F, 0x01, 0x08]
        case .sldt: return [0x0F, 0x00, 0x00]
        case .str: return [0x0F, 0x00, 0x08]
        case .smsw: return [0x0F, 0x01, 0x20]
        }
    }

    /// The bytes the architecture says it stores, given the registers the runner loaded (64-bit mode: a 2-byte
    /// limit and an 8-byte base for the tables, a 16-bit selector or machine-status word for the others).
    func architecturalBytes(_ special: SpecialRegisters) -> [UInt8] {
        func little(_ value: UInt64, _ count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: value >> UInt64($0 * 8)) } }
        switch self {
        case .sgdt: return little(UInt64(special.gdt.limit), 2) + little(special.gdt.base, 8)
        case .sidt: return little(UInt64(special.idt.limit), 2) + little(special.idt.base, 8)
        case .sldt: return little(UInt64(special.ldt.selector), 2)
        case .str: return little(UInt64(special.tr.selector), 2)
        case .smsw: return little(special.cr0 & 0xFFFF, 2)
        }
    }
}
