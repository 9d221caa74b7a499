/// RFLAGS bits and the arithmetic flag rules of the SDM (Vol. 1, Appendix A), computed eagerly.
enum Flag {
    static let cf: UInt64 = 1 << 0
    static let pf: UInt64 = 1 << 2
    static let af: UInt64 = 1 << 4
    static let zf: UInt64 = 1 << 6
    static let sf: UInt64 = 1 << 7
    static let tf: UInt64 = 1 << 8
    static let `if`: UInt64 = 1 << 9
    static let df: UInt64 = 1 << 10
    static let of: UInt64 = 1 << 11
    static let iopl: UInt64 = 3 << 12
    /// Nested task: IRET would return to the previous task.
    static let nt: UInt64 = 1 << 14
    static let rf: UInt64 = 1 << 16
    /// Virtual-8086 mode, which this CPU does not model (IRET refuses to set it).
    static let vm: UInt64 = 1 << 17
    /// Alignment check / SMAP access override (CLAC, STAC).
    static let ac: UInt64 = 1 << 18
    static let vif: UInt64 = 1 << 19
    static let vip: UInt64 = 1 << 20
    static let id: UInt64 = 1 << 21
    static let arithmetic: UInt64 = cf | pf | af | zf | sf | of
    static let fixed: UInt64 = 1 << 1

    @inline(__always)
    static func mask(_ size: Int) -> UInt64 { UInt64.max &>> UInt64(truncatingIfNeeded: 64 &- size &* 8) }

    @inline(__always)
    static func signBit(_ size: Int) -> UInt64 { 1 &<< UInt64(truncatingIfNeeded: size &* 8 &- 1) }

    /// ZF, SF and PF of a result.
    @inline(__always)
    static func result(_ value: UInt64, _ size: Int) -> UInt64 {
        let v = value & mask(size)
        var flags: UInt64 = 0
        if v == 0 { flags |= zf }
        if v & signBit(size) != 0 { flags |= sf }
        // PF: even parity of the low byte. 0x6996 holds the odd-parity bit of each nibble value (no POPCNT needed).
        let folded = (v ^ (v &>> 4)) & 0xF
        if (0x6996 &>> folded) & 1 == 0 { flags |= pf }
        return flags
    }

    @inline(__always)
    static func add(_ a: UInt64, _ b: UInt64, carry: UInt64, _ size: Int) -> (UInt64, UInt64) {
        let m = mask(size)
        let a = a & m, b = b & m
        let full = a &+ b &+ carry
        let value = full & m
        var flags = result(value, size)
        let carried = size == 8 ? (value < a || (carry == 1 && value == a)) : full > m
        if carried { flags |= cf }
        if (a ^ b ^ value) & 0x10 != 0 { flags |= af }
        if ((a ^ value) & (b ^ value)) & signBit(size) != 0 { flags |= of }
        return (value, flags)
    }

    @inline(__always)
    static func sub(_ a: UInt64, _ b: UInt64, borrow: UInt64, _ size: Int) -> (UInt64, UInt64) {
        let m = mask(size)
        let a = a & m, b = b & m
        let value = (a &- b &- borrow) & m
        var flags = result(value, size)
        if a < b || (borrow == 1 && a == b) { flags |= cf }
        if (a ^ b ^ value) & 0x10 != 0 { flags |= af }
        if ((a ^ b) & (a ^ value)) & signBit(size) != 0 { flags |= of }
        return (value, flags)
    }

    /// AND, OR, XOR, TEST: CF = OF = 0; AF is undefined and hardware clears it.
    static func logic(_ value: UInt64, _ size: Int) -> UInt64 { result(value, size) }
}
