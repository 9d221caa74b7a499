import ApusTesting

/// Loads, stores, read-modify-writes, stack and string accesses that touch a not-present, read-only, supervisor or
/// unmapped page, straddle into one from a good page, or use a non-canonical address (#GP, or #SS through RSP/RBP).
/// (The upper canonical half is left out: this host's KVM reserves it, see ControlFlowCases.)
/// The fault must be precise: no register or memory changed, error code and CR2 as the hardware reports them.
/// Accesses to good pages are mixed in so the same forms are also seen to succeed.
struct PagingFaultCases {
    var rng: SplitMix64

    mutating func address() -> UInt64 {
        let offset = UInt64(rng.below(0x1000))
        return rng.pick([UserModeLayout.notPresent + offset, UserModeLayout.readOnly + offset,
                         UserModeLayout.supervisor + offset, UserModeLayout.unmapped + UInt64(rng.below(0x10000)),
                         UserModeLayout.gdt + offset, UserModeLayout.notPresent - UInt64(1 + rng.below(7)),
                         UserModeLayout.readOnly - UInt64(1 + rng.below(7)), UserModeLayout.data + offset,
                         UserModeLayout.noExecute + offset, 0x0000_8000_0000_0000 + offset])
    }

    mutating func next() -> UserCase {
        var userCase = UserCase(group: "paging", code: [], description: "", registers: rng.registers())
        let target = address()
        let base = rng.register()
        let value = rng.register(excluding: [base])
        let wide = rng.chance(60)
        let displacement = Int32(rng.below(64)) - 32
        userCase.registers[base] = target &- UInt64(bitPattern: Int64(displacement))
        let name: String
        switch rng.below(9) {
        case 0:
            userCase.code = X86.based([0x8B], reg: value, base: base, displacement: displacement, wide: wide)
            name = "load"
        case 1:
            userCase.code = X86.based([0x89], reg: value, base: base, displacement: displacement, wide: wide)
            name = "store"
        case 2:
            userCase.code = X86.based([0x01], reg: value, base: base, displacement: displacement, wide: wide)
            name = "add to memory"
        case 3:
            userCase.code = X86.based([0x0F, 0xB1], reg: value, base: base, displacement: displacement, wide: wide)
            name = "cmpxchg"
        case 4:
            userCase.code = X86.based([0x8A], reg: value, base: base, displacement: displacement, wide: false)
            name = "load byte"
        case 5:
            // The same through RBP (SS-relative: a non-canonical address is #SS, not #GP).
            userCase.registers.rbp = userCase.registers[base]
            userCase.code = X86.based([0x8B], reg: value, base: 5, displacement: displacement, wide: wide)
            name = "load via rbp"
        case 6:
            userCase.userStack = target & ~7
            let pushes = rng.chance(50)
            userCase.code = pushes ? X86.push(value) : X86.pop(value)
            name = pushes ? "push" : "pop"
        case 7:
            // A string store that starts on the good data page and runs into the target: RCX and RDI say how far.
            userCase.registers.rdi = rng.chance(50) ? UserModeLayout.notPresent - UInt64(rng.below(40)) : target
            userCase.registers.rcx = UInt64(rng.below(80))
            userCase.registers.rflags &= ~0x400
            userCase.code = [0xF3] + (wide ? [0x48, 0xAB] : [0xAA])
            name = "rep stos"
        default:
            userCase.registers.rsi = target
            userCase.registers.rdi = UserModeLayout.data + UInt64(rng.below(0x800))
            userCase.registers.rcx = UInt64(rng.below(20))
            userCase.registers.rflags &= ~0x400
            userCase.code = [0xF3, 0x48, 0xA5]
            name = "rep movsq"
        }
        // A CMPXCHG or ADD that completes leaves arithmetic flags; all are defined for both.
        userCase.description = "\(name) \(hex(target))"
        return userCase
    }
}
