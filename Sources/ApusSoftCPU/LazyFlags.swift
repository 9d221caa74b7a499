/// Lazy arithmetic flags: ADD, SUB, CMP, the logic operations, INC and DEC record their operands and result, and the
/// six arithmetic flags are computed (by the same Flag rules) only when something reads RFLAGS. Most results are
/// overwritten before any flag is read, and Jcc/SETcc/CMOVcc on ZF read the recorded result directly.
struct LazyFlags {
    enum Kind: UInt8 { case none, add, sub, logic, increment, decrement }
    var kind = Kind.none
    var a: UInt64 = 0
    var b: UInt64 = 0
    /// The carry or borrow in (ADC, SBB: 0 or 1); for INC and DEC, the CF bit they leave unchanged.
    var carry: UInt64 = 0
    /// The result, masked to `size`.
    var result: UInt64 = 0
    var size = 8
}

extension CPUCore {
    /// RFLAGS. Reading it settles pending lazy flags; writing it drops them.
    var rflags: UInt64 {
        @inline(__always) get { lazy.kind == .none ? flagBits : settledFlags() }
        @inline(__always) set {
            flagBits = newValue
            lazy.kind = .none
        }
    }

    /// Computes the pending arithmetic flags into `flagBits`.
    func settledFlags() -> UInt64 {
        let computed: UInt64
        switch lazy.kind {
        case .none: return flagBits
        case .add: computed = Flag.add(lazy.a, lazy.b, carry: lazy.carry, lazy.size).1
        case .sub: computed = Flag.sub(lazy.a, lazy.b, borrow: lazy.carry, lazy.size).1
        case .logic: computed = Flag.logic(lazy.result, lazy.size)
        case .increment: computed = Flag.add(lazy.a, 1, carry: 0, lazy.size).1 & ~Flag.cf | lazy.carry
        case .decrement: computed = Flag.sub(lazy.a, 1, borrow: 0, lazy.size).1 & ~Flag.cf | lazy.carry
        }
        flagBits = (flagBits & ~Flag.arithmetic) | (computed & Flag.arithmetic)
        lazy.kind = .none
        return flagBits
    }

    /// CF alone, without settling the other flags when the pending operation makes it obvious.
    @inline(__always)
    func carryFlag() -> UInt64 {
        switch lazy.kind {
        case .none: return flagBits & Flag.cf
        case .logic: return 0
        case .increment, .decrement: return lazy.carry
        default: return settledFlags() & Flag.cf
        }
    }

    @inline(__always)
    func recordFlags(_ kind: LazyFlags.Kind, _ a: UInt64, _ b: UInt64, carry: UInt64, result: UInt64, size: Int) {
        lazy = LazyFlags(kind: kind, a: a, b: b, carry: carry, result: result, size: size)
    }

    /// INC (`increment`) or DEC of `value`: the result, with lazy flags that keep CF.
    @inline(__always)
    func incrementOrDecrement(_ value: UInt64, increment: Bool, size: Int) -> UInt64 {
        let carry = carryFlag()
        let result = (increment ? value &+ 1 : value &- 1) & Flag.mask(size)
        recordFlags(increment ? .increment : .decrement, value, 1, carry: carry, result: result, size: size)
        return result
    }
}
