/// A host general-purpose register, numbered as ModRM, SIB and REX encode it.
enum HostRegister: UInt8, CaseIterable, Sendable {
    case rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15

    /// The three bits that go into ModRM or SIB; the fourth goes into REX.
    var low3: UInt8 { rawValue & 7 }
    var extended: Bool { rawValue >= 8 }
}

/// How wide an operation is; also picks the 0x66 prefix or REX.W.
enum OperandWidth: Int, CaseIterable, Sendable {
    case byte = 1, word = 2, dword = 4, qword = 8
}

/// The sixteen x86 condition codes, as Jcc, SETcc and CMOVcc number them.
enum HostCondition: UInt8, CaseIterable, Sendable {
    case overflow, notOverflow, below, aboveOrEqual, equal, notEqual, belowOrEqual, above
    case sign, notSign, parity, notParity, less, greaterOrEqual, lessOrEqual, greater
}

/// A memory operand `[base + index * scale + displacement]` (scale 1, 2, 4 or 8; the index is never RSP).
struct HostMemory: Sendable {
    var base: HostRegister
    var index: HostRegister?
    var scale: UInt8
    var displacement: Int32

    init(base: HostRegister, index: HostRegister? = nil, scale: UInt8 = 1, displacement: Int32 = 0) {
        precondition(index != .rsp, "RSP cannot be an index register")
        precondition([1, 2, 4, 8].contains(scale), "scale must be 1, 2, 4 or 8")
        self.base = base
        self.index = index
        self.scale = scale
        self.displacement = displacement
    }
}

/// The ModRM r/m operand of an instruction: a register or memory.
enum HostOperand: Sendable {
    case register(HostRegister)
    case memory(HostMemory)
}
