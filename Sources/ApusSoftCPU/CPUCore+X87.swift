import ApusCore
import CHostFPU

/// x87 instructions (escape opcodes D8-DF): loads and stores in every format, arithmetic, compares, constants,
/// stack management, conditional moves and the environment. Values are operated on by the host's x87 under the
/// guest's control word (CHostFPU), so results, rounding, C1 and the exception flags are bit-exact; stack faults,
/// tags, TOP and what reaches the guest are decided here. Every non-control instruction records its opcode, address
/// and memory operand's address (FOP, FIP, FDP: CPUCore+X87Pointers) for FXSAVE, FNSTENV and exception handlers.
/// An unmasked exception sets ES and B; the next waiting x87 instruction (or FWAIT) then raises #MF when CR0.NE is
/// set.
extension CPUCore {
    func x87(_ i: inout Instruction, _ opcode: Int) throws {
        try checkX87Available()
        let next = try read(.cs, i.ip, size: 1, access: .fetch)
        let waiting = !(opcode == 0xDB && (next == 0xE2 || next == 0xE3)) && !(opcode == 0xDF && next == 0xE0)
        if !waiting { _ = try fetch8(&i) }
        let (modrm, operand) = waiting ? try decodeModRM(&i) : (ModRM(mod: 3, reg: 0, rm: 0), Operand.register(0))
        let kind = modrm.reg & 7
        if waiting {
            // FNSTENV, FNSAVE and FNSTCW / FNSTSW (memory forms) are the no-wait forms among the ModRM ones.
            let noWait = modrm.mod != 3 && ((opcode == 0xD9 && (kind == 6 || kind == 7)) || (opcode == 0xDD && (kind == 6 || kind == 7)))
            if !noWait { try checkPendingX87Exception() }
        }
        if !waiting {
            switch next {
            case 0xE3:                                    // FNINIT
                var state = fpu
                state.controlWord = 0x037F
                for index in 2..<24 { state.fxsave[index] = 0 }
                fpu = state
            case 0xE2:                                    // FNCLEX
                x87Status &= 0x7F00
            default:                                      // FNSTSW AX
                setRegister(0, size: 2, UInt64(x87Status))
            }
            return
        }
        if !Self.isX87Control(opcode, modrm) { try recordX87Pointers(opcode, modrm, operand, i) }
        if modrm.mod == 3 {
            try x87Register(opcode, kind: kind, index: modrm.rm & 7, i)
        } else {
            try x87Memory(opcode, kind: kind, operand, i)
        }
    }

    /// With an unmasked exception pending (FSW.ES), a waiting instruction raises #MF instead (CR0.NE; without it
    /// the PC would signal FERR# to the interrupt controller, which this machine does not wire).
    func checkPendingX87Exception() throws {
        if x87Status & 0x80 != 0 && sregs.cr0 & ControlRegister.cr0NE != 0 {
            throw CPUFault(vector: .floatingPointError, errorCode: nil)
        }
    }

    /// CR0.EM (emulate the FPU) and CR0.TS (lazy FPU switching) make x87 instructions raise #NM.
    func checkX87Available() throws {
        if sregs.cr0 & (ControlRegister.cr0EM | ControlRegister.cr0TS) != 0 {
            throw CPUFault(vector: .deviceNotAvailable, errorCode: nil)
        }
    }

    // MARK: Arithmetic

    /// D8/DC (and DA/DE with integers) reg field 0-7: add, mul, com, comp, sub, subr, div, divr.
    static let arithmetic: [apus_x87_operation] = [APUS_X87_ADD, APUS_X87_MUL, APUS_X87_COMPARE, APUS_X87_COMPARE,
                                                   APUS_X87_SUB, APUS_X87_SUBR, APUS_X87_DIV, APUS_X87_DIVR]

    /// `destination = destination op source` for ST registers; compares set C0/C2/C3 instead.
    func x87Arithmetic(_ kind: Int, destination: Int, source: apus_float80, sourceEmpty: Bool = false,
                       extraStatus: UInt16 = 0, unordered: Bool = false, pop: Int = 0) {
        guard !x87Empty(destination), !sourceEmpty else {
            // Unmasked, the instruction is abandoned: nothing is written and nothing popped.
            guard x87StackFault(overflow: false) else { return }
            if kind == 2 || kind == 3 { setX87ConditionCodes(0x4500) }   // unordered
            else { setST(destination, Self.x87Indefinite) }
            for _ in 0..<pop { x87Pop() }
            return
        }
        var a = st(destination), b = source
        var result = apus_float80(), second = apus_float80()
        // A denormal memory operand signals DE only when the other operand is not a NaN and the operation raises
        // neither IE nor ZE, which rank above DE (seen on hardware: den / 0 reports ZE alone).
        var extraStatus = extraStatus
        if Self.x87IsNaN(a) { extraStatus &= ~0x02 }
        let operation = unordered ? APUS_X87_UCOMPARE : Self.arithmetic[kind]
        let operated = apus_x87_operate(Int32(operation.rawValue), &a, &b, x87Control, &result, &second)
        if operated & 0x05 != 0 { extraStatus &= ~0x02 }
        let status = operated | extraStatus
        if kind == 2 || kind == 3 {
            _ = x87Accept(status & ~0x0200, conditionCodes: status)
        } else if x87Accept(status) {
            setST(destination, result)
        } else {
            return   // an unmasked IE, DE or ZE abandons the instruction before its pop
        }
        for _ in 0..<pop { x87Pop() }
    }

    /// Pushes a value a load converted (FLD m32/m64, FILD, FBLD), `status` being the conversion's. Only an unmasked
    /// IE (a signalling NaN source) abandons the load; an unmasked DE (a denormal source) is reported and the value
    /// still pushed, as hardware does. Onto a full stack the masked response pushes the indefinite value instead.
    func x87PushLoaded(_ value: apus_float80, status: UInt16) {
        guard x87Empty(7) else {
            x87Push(value)
            return
        }
        if status & ~x87Control & 0x01 != 0 {
            _ = x87Accept(status)
        } else {
            _ = x87Accept(status, conditionCodes: x87Status)   // flags only: the condition codes stay
            x87Push(value)
        }
    }

    /// A memory operand converted to 80 bits (FLD m32/m64, FILD, and the arithmetic forms' sources).
    func x87Load(_ format: apus_x87_format, _ operand: Operand, _ i: Instruction) throws -> (apus_float80, UInt16) {
        let size: Int
        switch format {
        case APUS_X87_I16: size = 2
        case APUS_X87_M32, APUS_X87_I32: size = 4
        default: size = 8
        }
        var raw = try read(operand, size: size, i)
        var value = apus_float80()
        let status = apus_x87_load(Int32(format.rawValue), &raw, x87Control, &value)
        return (value, status)
    }

    func x87Memory(_ opcode: Int, kind: Int, _ operand: Operand, _ i: Instruction) throws {
        switch (opcode, kind) {
        case (0xD8, _), (0xDC, _), (0xDA, _), (0xDE, _):
            let format = [0xD8: APUS_X87_M32, 0xDC: APUS_X87_M64, 0xDA: APUS_X87_I32][opcode] ?? APUS_X87_I16
            let (value, status) = try x87Load(format, operand, i)
            x87Arithmetic(kind, destination: 0, source: value, extraStatus: status & 0x3F, pop: kind == 3 ? 1 : 0)
        case (0xD9, 0), (0xDD, 0), (0xDB, 0), (0xDF, 0), (0xDF, 5):
            let format = [0xD9: APUS_X87_M32, 0xDD: APUS_X87_M64, 0xDB: APUS_X87_I32][opcode]
                ?? (kind == 0 ? APUS_X87_I16 : APUS_X87_I64)
            let (value, status) = try x87Load(format, operand, i)
            x87PushLoaded(value, status: status)
        case (0xDB, 5), (0xDB, 7), (0xDF, 4), (0xDF, 6):                // FLD/FSTP m80, FBLD, FBSTP
            try x87TenByte(opcode, kind: kind, operand, i)
        case (0xD9, 2), (0xD9, 3), (0xDD, 2), (0xDD, 3), (0xDB, 2), (0xDB, 3), (0xDF, 2), (0xDF, 3), (0xDF, 7),
             (0xDB, 1), (0xDD, 1), (0xDF, 1):
            // Kind 1 is SSE3's FISTTP m32/m64/m16: FISTP rounding toward zero whatever the control word says.
            let truncating = kind == 1
            guard !truncating || model.advertises(.sse3) else { throw CPUFault.ud }
            let format: apus_x87_format
            let size: Int
            switch (opcode, truncating) {
            case (0xD9, _): (format, size) = (APUS_X87_M32, 4)
            case (0xDD, true): (format, size) = (APUS_X87_I64, 8)
            case (0xDD, _): (format, size) = (APUS_X87_M64, 8)
            case (0xDB, _): (format, size) = (APUS_X87_I32, 4)
            default: (format, size) = kind == 7 ? (APUS_X87_I64, 8) : (APUS_X87_I16, 2)
            }
            let pop = kind != 2
            let control = truncating ? x87Control | 0x0C00 : x87Control
            var source = Self.x87Indefinite
            var stored: UInt64 = 0
            if x87Empty(0) {
                guard x87StackFault(overflow: false) else { return }
                // The masked response stores the indefinite value of the destination format.
                var ignored: UInt64 = 0
                _ = apus_x87_store(Int32(format.rawValue), &source, control, &ignored)
                stored = ignored
            } else {
                source = st(0)
                let status = apus_x87_store(Int32(format.rawValue), &source, control, &stored)
                guard x87Accept(status) else { return }
            }
            try write(operand, size: size, stored & Flag.mask(size), i)
            if pop { x87Pop() }
        case (0xD9, 4), (0xD9, 6), (0xDD, 4), (0xDD, 6):
            try x87Environment(opcode, kind: kind, operand, i)
        case (0xD9, 5):                                            // FLDCW
            fpu.controlWord = UInt16(try read(operand, size: 2, i))
            x87RecomputeSummary()
        case (0xD9, 7):                                            // FNSTCW
            try write(operand, size: 2, UInt64(x87Control), i)
        case (0xDD, 7):                                            // FNSTSW m16
            try write(operand, size: 2, UInt64(x87Status), i)
        default:
            throw notImplemented(UInt64(opcode), i)
        }
    }

    /// ES and B follow the exception flags and the masks (after FLDCW, FLDENV, FRSTOR).
    func x87RecomputeSummary() {
        let unmasked = x87Status & ~x87Control & 0x3F
        x87Status = unmasked != 0 ? x87Status | 0x8080 : x87Status & ~0x8080
    }
}
