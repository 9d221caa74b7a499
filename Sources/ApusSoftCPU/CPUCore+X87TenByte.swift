import ApusCore
import CHostFPU

/// The x87 forms with a 10-byte memory operand: FLD/FSTP m80 (the register format itself) and FBLD/FBSTP (packed
/// BCD, converted by the host's x87). Stores probe both ends of the operand first, so a fault on the second page
/// leaves memory and the stack untouched.
extension CPUCore {
    func x87TenByte(_ opcode: Int, kind: Int, _ operand: Operand, _ i: Instruction) throws {
        switch (opcode, kind) {
        case (0xDB, 5):                                            // FLD m80: no conversion, no exception but SF
            let value = try readTenBytes(operand, i)
            setX87ConditionCodes(x87Status & 0x4500)
            x87Push(value)
        case (0xDF, 4):                                            // FBLD
            var bytes = try readTenBytes(operand, i)
            var value = apus_float80()
            let status = apus_x87_load(Int32(APUS_X87_BCD.rawValue), &bytes, x87Control, &value)
            x87PushLoaded(value, status: status)
        case (0xDB, 7):                                            // FSTP m80
            try probeTenBytes(operand, i)
            var value = Self.x87Indefinite
            if x87Empty(0) { guard x87StackFault(overflow: false) else { return } } else { value = st(0) }
            try writeTenBytes(value, operand, i)
            if !x87Empty(0) { setX87ConditionCodes(x87Status & 0x4500) }
            x87Pop()
        default:                                                   // FBSTP
            try probeTenBytes(operand, i)
            var source = Self.x87Indefinite
            var stored = apus_float80()
            if x87Empty(0) {
                guard x87StackFault(overflow: false) else { return }
                // The masked response stores the BCD indefinite value.
                _ = apus_x87_store(Int32(APUS_X87_BCD.rawValue), &source, x87Control, &stored)
            } else {
                source = st(0)
                let status = apus_x87_store(Int32(APUS_X87_BCD.rawValue), &source, x87Control, &stored)
                guard x87Accept(status) else { return }
            }
            try writeTenBytes(stored, operand, i)
            x87Pop()
        }
    }

    private func readTenBytes(_ operand: Operand, _ i: Instruction) throws -> apus_float80 {
        let low = try read(operand, size: 8, i)
        let (segment, offset) = try effectiveOffset(operand, i)
        let high = try read(segment, offset &+ 8, size: 2)
        var value = apus_float80()
        withUnsafeMutableBytes(of: &value.bytes) { bytes in
            for index in 0..<8 { bytes[index] = UInt8(truncatingIfNeeded: low >> (8 * UInt64(index))) }
            bytes[8] = UInt8(truncatingIfNeeded: high)
            bytes[9] = UInt8(truncatingIfNeeded: high >> 8)
        }
        return value
    }

    /// Faults now if either end of the 10 bytes cannot be written.
    private func probeTenBytes(_ operand: Operand, _ i: Instruction) throws {
        let (segment, offset) = try effectiveOffset(operand, i)
        let first = linear(segment, offset)
        try checkCanonical(first, segment)
        _ = try translate(first, access: .write)
        _ = try translate(first &+ 9, access: .write)
    }

    private func writeTenBytes(_ value: apus_float80, _ operand: Operand, _ i: Instruction) throws {
        let (segment, offset) = try effectiveOffset(operand, i)
        let bytes = withUnsafeBytes(of: value.bytes) { Array($0) }
        let low = (0..<8).reduce(UInt64(0)) { $0 | UInt64(bytes[$1]) << (8 * UInt64($1)) }
        try write(segment, offset, size: 8, low)
        try write(segment, offset &+ 8, size: 2, UInt64(bytes[8]) | UInt64(bytes[9]) << 8)
    }
}
