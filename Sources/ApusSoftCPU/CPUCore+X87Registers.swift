import ApusCore
import CHostFPU

/// The x87 register forms (ModRM mod 3): arithmetic between stack registers, compares (FCOM, FUCOM, FCOMI,
/// FUCOMI and their popping forms), exchanges and moves, conditional moves, constants and the one-operand
/// functions of D9 E0-FF.
extension CPUCore {
    func x87Register(_ opcode: Int, kind: Int, index: Int, _ i: Instruction) throws {
        switch (opcode, kind) {
        case (0xD8, _):
            x87Arithmetic(kind, destination: 0, source: st(index), sourceEmpty: x87Empty(index), pop: kind == 3 ? 1 : 0)
        case (0xDC, 2), (0xDC, 3):
            x87Arithmetic(kind, destination: 0, source: st(index), sourceEmpty: x87Empty(index), pop: kind == 3 ? 1 : 0)
        case (0xDC, 0), (0xDC, 1), (0xDC, 4...7), (0xDE, 0), (0xDE, 1), (0xDE, 4...7):
            // ST(i) = ST(i) op ST(0): here E0/F0 are the reversed forms (FSUBR, FDIVR) and E8/F8 the plain ones.
            let swapped = kind >= 4 ? kind ^ 1 : kind
            x87Arithmetic(swapped, destination: index, source: st(0), sourceEmpty: x87Empty(0), pop: opcode == 0xDE ? 1 : 0)
        case (0xDE, 3) where index == 1:                             // FCOMPP
            x87Arithmetic(3, destination: 0, source: st(1), sourceEmpty: x87Empty(1), pop: 2)
        case (0xDA, 5) where index == 1:                             // FUCOMPP
            x87Arithmetic(3, destination: 0, source: st(1), sourceEmpty: x87Empty(1), unordered: true, pop: 2)
        case (0xDD, 4), (0xDD, 5):                                   // FUCOM, FUCOMP
            x87Arithmetic(kind - 2, destination: 0, source: st(index), sourceEmpty: x87Empty(index), unordered: true,
                          pop: kind == 5 ? 1 : 0)
        case (0xDB, 5), (0xDB, 6), (0xDF, 5), (0xDF, 6):             // FUCOMI, FCOMI, FUCOMIP, FCOMIP
            x87CompareToFlags(index, unordered: kind == 5)
            if opcode == 0xDF { x87Pop() }
        case (0xDA, 0...3), (0xDB, 0...3):                           // FCMOVcc
            let conditions = [flag(Flag.cf), flag(Flag.zf), flag(Flag.cf) || flag(Flag.zf), flag(Flag.pf)]
            let move = opcode == 0xDA ? conditions[kind] : !conditions[kind]
            if x87Empty(0) || x87Empty(index) {
                if x87StackFault(overflow: false) { setST(0, Self.x87Indefinite) }
            } else if move {
                setST(0, st(index))
            }
        case (0xDB, 4) where index <= 4 && index != 2 && index != 3:   // FENI, FDISI, FSETPM: no-ops since the 387
            break
        case (0xD9, 0):                                              // FLD ST(i)
            setX87ConditionCodes(x87Status & 0x4500)
            if x87Empty(index) {
                // One fault reported: the underflow (a full stack does not add an overflow's C1).
                if x87StackFault(overflow: false) { x87Push(Self.x87Indefinite); setX87ConditionCodes(x87Status & 0x4500) }
            } else {
                x87Push(st(index))
            }
        case (0xD9, 1), (0xDD, 1), (0xDF, 1):                        // FXCH (and its reserved aliases)
            setX87ConditionCodes(x87Status & 0x4500)
            if x87Empty(0) || x87Empty(index) {
                guard x87StackFault(overflow: false) else { return }
                let a = x87Empty(0) ? Self.x87Indefinite : st(0), b = x87Empty(index) ? Self.x87Indefinite : st(index)
                setST(0, b); setST(index, a)
            } else {
                let a = st(0)
                setST(0, st(index)); setST(index, a)
            }
        case (0xD9, 2) where index == 0:                             // FNOP
            break
        case (0xDD, 0):                                              // FFREE (clears C1, as hardware does)
            setX87ConditionCodes(x87Status & 0x4500)
            setX87Tag(index, valid: false)
        case (0xDD, 2), (0xDD, 3), (0xD9, 3), (0xDF, 2), (0xDF, 3):  // FST ST(i), FSTP ST(i); FSTP1, FSTP8, FSTP9
            setX87ConditionCodes(x87Status & 0x4500)
            if x87Empty(0) {
                guard x87StackFault(overflow: false) else { return }
                setST(index, Self.x87Indefinite)
            } else {
                setST(index, st(0))
            }
            if kind == 3 || opcode != 0xDD { x87Pop() }
        case (0xDE, 2):                                              // FCOMP5: the undocumented alias of FCOMP
            x87Arithmetic(3, destination: 0, source: st(index), sourceEmpty: x87Empty(index), pop: 1)
        case (0xDF, 0):                                              // FFREEP: FFREE, then pop (undocumented)
            setX87ConditionCodes(x87Status & 0x4500)
            setX87Tag(index, valid: false)
            x87Pop()
        case (0xD9, 4...7):
            try x87Function(kind << 3 | index, i)
        default:
            throw notImplemented(UInt64(opcode), i)
        }
    }

    /// FCOMI/FUCOMI: ZF, PF, CF from the compare; OF, SF, AF cleared.
    private func x87CompareToFlags(_ index: Int, unordered: Bool) {
        // C1 is left as it was (the SDM says cleared; the hardware KVM runs on keeps it).
        if x87Empty(0) || x87Empty(index) {
            if x87StackFault(overflow: false) { setArithmeticFlags(Flag.zf | Flag.pf | Flag.cf) }
            return
        }
        var a = st(0), b = st(index), result = apus_float80(), second = apus_float80()
        let operation = unordered ? APUS_X87_UCOMPARE : APUS_X87_COMPARE
        let status = apus_x87_operate(Int32(operation.rawValue), &a, &b, x87Control, &result, &second)
        guard x87Accept((status & ~0x0200) | (x87Status & 0x0200)) else { return }
        let flags = (status & 0x4000 != 0 ? Flag.zf : 0) | (status & 0x0400 != 0 ? Flag.pf : 0)
            | (status & 0x0100 != 0 ? Flag.cf : 0)
        setArithmeticFlags(flags)
    }

    /// D9 E0-FF (`code` is the low six bits of the second byte).
    private func x87Function(_ code: Int, _ i: Instruction) throws {
        let constants: [Int: apus_x87_operation] = [
            0x28: APUS_X87_LD1, 0x29: APUS_X87_LDL2T, 0x2A: APUS_X87_LDL2E, 0x2B: APUS_X87_LDPI, 0x2C: APUS_X87_LDLG2,
            0x2D: APUS_X87_LDLN2, 0x2E: APUS_X87_LDZ,
        ]
        var zero = apus_float80(), other = apus_float80(), result = apus_float80(), second = apus_float80()
        if let constant = constants[code] {
            // Loading a constant raises nothing (it is only rounded); C1 is cleared unless the push overflows.
            _ = apus_x87_operate(Int32(constant.rawValue), &zero, &other, x87Control, &result, &second)
            if x87Empty(7) { setX87ConditionCodes(x87Status & 0x4500) }
            x87Push(result)
            return
        }
        switch code {
        case 0x20, 0x21:                                             // FCHS, FABS
            setX87ConditionCodes(x87Status & 0x4500)
            guard !x87Empty(0) else {
                if x87StackFault(overflow: false) { setST(0, Self.x87Indefinite) }
                return
            }
            var value = st(0)
            value.bytes.9 = code == 0x20 ? value.bytes.9 ^ 0x80 : value.bytes.9 & 0x7F
            setST(0, value)
        case 0x24, 0x25:                                             // FTST, FXAM
            if code == 0x25 && x87Empty(0) {
                let sign: UInt16 = st(0).bytes.9 & 0x80 != 0 ? 0x0200 : 0
                setX87ConditionCodes(0x4100 | sign)                   // empty
                return
            }
            guard !x87Empty(0) else {
                if x87StackFault(overflow: false) { setX87ConditionCodes(0x4500) }
                return
            }
            var a = st(0), b = st(0)
            let operation = code == 0x24 ? APUS_X87_TST : APUS_X87_XAM
            let status = apus_x87_operate(Int32(operation.rawValue), &a, &b, x87Control, &result, &second)
            if code == 0x25 { setX87ConditionCodes(status) } else { _ = x87Accept(status & ~0x0200, conditionCodes: status) }
        case 0x36, 0x37:                                             // FDECSTP, FINCSTP
            setX87ConditionCodes(x87Status & 0x4500)
            setX87TopRotating(by: code == 0x36 ? -1 : 1)
        default:
            try x87Compute(code, i)
        }
    }

    /// TOP moves without touching tags (FDECSTP/FINCSTP): the slots rotate with it.
    private func setX87TopRotating(by shift: Int) {
        rotateSlots(by: shift)
        setX87Top(x87Top + shift)
    }

    /// The computing functions: F2XM1, FYL2X, FPTAN, FPATAN, FXTRACT, FPREM1, FPREM, FYL2XP1, FSQRT, FSINCOS,
    /// FRNDINT, FSCALE, FSIN, FCOS.
    private func x87Compute(_ code: Int, _ i: Instruction) throws {
        let table: [Int: apus_x87_operation] = [
            0x30: APUS_X87_F2XM1, 0x31: APUS_X87_YL2X, 0x32: APUS_X87_PTAN, 0x33: APUS_X87_PATAN, 0x34: APUS_X87_XTRACT,
            0x35: APUS_X87_PREM1, 0x38: APUS_X87_PREM, 0x39: APUS_X87_YL2XP1, 0x3A: APUS_X87_SQRT,
            0x3B: APUS_X87_SINCOS, 0x3C: APUS_X87_RNDINT, 0x3D: APUS_X87_SCALE, 0x3E: APUS_X87_SIN, 0x3F: APUS_X87_COS,
        ]
        guard let operation = table[code] else { throw notImplemented(0xD9, i) }
        let usesST1 = [0x31, 0x33, 0x35, 0x38, 0x39, 0x3D].contains(code)
        let pushes = [0x32, 0x34, 0x3B].contains(code)
        let popsIntoST1 = [0x31, 0x33, 0x39].contains(code)
        let trigonometric = [0x32, 0x3B, 0x3E, 0x3F].contains(code)
        if trigonometric { x87Status &= ~0x0400 }
        guard !x87Empty(0), !(usesST1 && x87Empty(1)) else {
            let faulted = x87StackFault(overflow: false)
            // FPREM1, FPREM: no quotient, so C2 (reduction incomplete) clears and C0, C3 stay (seen on hardware).
            if code == 0x35 || code == 0x38 { x87Status &= ~0x0400 }
            if faulted {
                if popsIntoST1 {
                    setST(1, Self.x87Indefinite)
                    x87Pop()
                } else {
                    setST(0, Self.x87Indefinite)
                    if pushes { x87Push(Self.x87Indefinite, overflowChecked: false) }
                }
            }
            return
        }
        if pushes && !x87Empty(7) {
            if x87StackFault(overflow: true) { setST(0, Self.x87Indefinite); x87Push(Self.x87Indefinite) }
            return
        }
        var a = st(0), b = usesST1 ? st(1) : st(0)
        var result = apus_float80(), second = apus_float80()
        let status = apus_x87_operate(Int32(operation.rawValue), &a, &b, x87Control, &result, &second)
        let incomplete = status & 0x0400 != 0
        switch code {
        case 0x35, 0x38:
            // FPREM1, FPREM: C0, C3, C1 are the low quotient bits and C2 clear once the reduction is complete; a
            // partial one sets C2 and clears the other three (as the host reports them). A NaN result (a NaN operand,
            // or an invalid one such as an infinite dividend or a zero divisor) has no quotient: C0 and C3 stay, C1
            // and C2 clear.
            let codes = Self.x87IsNaN(result) ? x87Status & 0x4100 : status & 0x4500
            if x87Accept(status, conditionCodes: codes) { setST(0, result) }
        case 0x31, 0x33, 0x39:                                       // into ST(1), then pop
            if x87Accept(status) { setST(1, result); x87Pop() }
        case 0x32, 0x3B, 0x3E, 0x3F:
            // FPTAN, FSINCOS, FSIN, FCOS: C2 says out of range; C0 and C3 are left as they were.
            guard x87Accept(status, conditionCodes: (x87Status & 0x4100) | (status & 0x0400)) else { return }
            if incomplete { return }
            if code == 0x32 { setST(0, second); x87Push(result) }          // tan, then 1.0 pushed
            else if code == 0x3B { setST(0, second); x87Push(result) }     // sin, then cos pushed
            else { setST(0, result) }
        case 0x34:                                                   // FXTRACT: exponent, then significand pushed
            if x87Accept(status) { setST(0, second); x87Push(result) }
        default:
            if x87Accept(status) { setST(0, result) }
        }
    }
}
