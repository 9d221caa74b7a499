import ApusCore
import CHostFPU

/// The x87 register stack, kept in the FXSAVE image (`fpu.fxsave`): FCW at 0, FSW at 2 (TOP in bits 11-13), the
/// abridged tag byte at 4 (one bit per *physical* register, set when it holds a value), and ST(0)-ST(7) in stack
/// order at 32 + 16 * i, 10 bytes each. A push or pop therefore rotates the eight slots.
extension CPUCore {
    static let x87Indefinite = apus_float80(bytes: (0, 0, 0, 0, 0, 0, 0, 0xC0, 0xFF, 0xFF))

    var x87Control: UInt16 { fpu.controlWord }

    /// Whether `value` is a NaN: exponent all ones and a fraction (the significand below its integer bit) not zero.
    static func x87IsNaN(_ value: apus_float80) -> Bool {
        withUnsafeBytes(of: value.bytes) { bytes in
            let significand = bytes.loadUnaligned(as: UInt64.self)
            let exponent = UInt16(bytes[8]) | UInt16(bytes[9] & 0x7F) << 8
            return exponent == 0x7FFF && significand << 1 != 0
        }
    }

    var x87Status: UInt16 {
        get { UInt16(fpu.fxsave[2]) | UInt16(fpu.fxsave[3]) << 8 }
        set { fpu.fxsave[2] = UInt8(truncatingIfNeeded: newValue); fpu.fxsave[3] = UInt8(truncatingIfNeeded: newValue >> 8) }
    }

    var x87Top: Int { Int(x87Status >> 11) & 7 }

    func setX87Top(_ top: Int) { x87Status = (x87Status & ~0x3800) | UInt16(top & 7) << 11 }

    /// Whether ST(i) is empty.
    func x87Empty(_ i: Int) -> Bool { fpu.fxsave[4] & UInt8(1 << ((x87Top + i) & 7)) == 0 }

    func setX87Tag(_ i: Int, valid: Bool) {
        let bit = UInt8(1 << ((x87Top + i) & 7))
        if valid { fpu.fxsave[4] |= bit } else { fpu.fxsave[4] &= ~bit }
    }

    func st(_ i: Int) -> apus_float80 {
        let base = 32 + 16 * (i & 7)
        var value = apus_float80()
        withUnsafeMutableBytes(of: &value.bytes) { bytes in
            for index in 0..<10 { bytes[index] = fpu.fxsave[base + index] }
        }
        return value
    }

    /// Writes ST(i) and tags it valid.
    func setST(_ i: Int, _ value: apus_float80) {
        let base = 32 + 16 * (i & 7)
        withUnsafeBytes(of: value.bytes) { bytes in
            for index in 0..<10 { fpu.fxsave[base + index] = bytes[index] }
        }
        setX87Tag(i, valid: true)
    }

    /// Moves the slot contents so ST numbering follows a TOP change of `by` (-1 for a push, +1 for a pop).
    func rotateSlots(by shift: Int) {
        var slots = [UInt8](repeating: 0, count: 128)
        for index in 0..<128 { slots[index] = fpu.fxsave[32 + index] }
        for i in 0..<8 {
            let from = ((i + shift) & 7) * 16
            for index in 0..<16 { fpu.fxsave[32 + i * 16 + index] = slots[from + index] }
        }
    }

    /// Pushes `value`; onto a full stack that is a stack overflow (IE, SF, C1 set), which pushes the indefinite
    /// value when IE is masked. Returns false when an unmasked overflow left the stack alone.
    /// `overflowChecked: false` is for the second result of an instruction that already underflowed: hardware then
    /// pushes over a valid ST(7) without reporting an overflow (C1 stays clear).
    @discardableResult
    func x87Push(_ value: apus_float80, overflowChecked: Bool = true) -> Bool {
        if overflowChecked && !x87Empty(7) {
            guard x87StackFault(overflow: true) else { return false }
            rotateSlots(by: -1)
            setX87Top(x87Top - 1)
            setST(0, Self.x87Indefinite)
            return true
        }
        rotateSlots(by: -1)
        setX87Top(x87Top - 1)
        setST(0, value)
        return true
    }

    /// Marks ST(0) empty and pops it.
    func x87Pop() {
        setX87Tag(0, valid: false)
        rotateSlots(by: 1)
        setX87Top(x87Top + 1)
    }

    /// A stack overflow or underflow: IE and SF, C1 telling which. Returns whether IE is masked (the masked
    /// response, the indefinite value, goes ahead).
    @discardableResult
    func x87StackFault(overflow: Bool) -> Bool {
        var status = x87Status | 0x41
        status = overflow ? status | 0x0200 : status & ~0x0200
        let masked = x87Control & 1 != 0
        if !masked { status |= 0x8080 }
        x87Status = status
        return masked
    }

    /// Folds a host operation's status into FSW: the exception flags accumulate, C1 is the round-up indicator (or
    /// clear), and an unmasked exception sets ES and B. Returns whether the result may be written: an unmasked
    /// invalid-operation, denormal or zero-divide leaves the destination alone.
    func x87Accept(_ hostStatus: UInt16, conditionCodes: UInt16? = nil) -> Bool {
        let raised = hostStatus & 0x3F
        if conditionCodes == nil && raised & ~x87Control & 0x07 != 0 {
            // An unmasked IE, DE or ZE stops the operation before it computes: the later flags the host's masked
            // run raised (PE, UE, OE) and its round-up C1 are not reported, and C1 is cleared (seen on this host).
            x87Status = (x87Status | raised & 0x07 | 0x8080) & ~0x0200
            return false
        }
        var status = x87Status | raised
        status = (status & ~0x0200) | (hostStatus & 0x0200)
        if let conditionCodes { status = (status & ~0x4500) | (conditionCodes & 0x4500) }
        let unmasked = raised & ~x87Control & 0x3F
        if unmasked != 0 { status |= 0x8080 }
        x87Status = status
        return unmasked & 0x07 == 0
    }

    /// Sets C0-C3 (C1 included) as `codes` gives them in FSW's bit positions.
    func setX87ConditionCodes(_ codes: UInt16) {
        x87Status = (x87Status & ~0x4700) | (codes & 0x4700)
    }
}
