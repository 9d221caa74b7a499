/// The instruction forms the translator uses, each choosing the encoding the LLVM assembler chooses for the same text.
extension X86Emitter {
    /// The eight classic ALU operations, numbered as their opcodes and /digit extensions number them.
    enum ArithmeticOperation: UInt8, CaseIterable, Sendable { case add, or, adc, sbb, and, sub, xor, cmp }
    /// Shifts and rotates, numbered as the C0/D1/D3 group's /digit (6 is an undocumented alias of 4).
    enum ShiftOperation: UInt8, CaseIterable, Sendable { case rol = 0, ror = 1, rcl = 2, rcr = 3, shl = 4, shr = 5, sar = 7 }
    /// The F6/F7 group's unary operations.
    enum UnaryOperation: UInt8, CaseIterable, Sendable { case not = 2, neg = 3 }

    private static func isByte(_ width: OperandWidth) -> Bool { width == .byte }

    // MARK: MOV

    /// MOV r/m, r (89 /r, 88 for bytes).
    mutating func mov(_ width: OperandWidth, _ destination: HostOperand, _ source: HostRegister) {
        encode(width: width, opcode: [width == .byte ? 0x88 : 0x89], reg: source.rawValue, rm: destination,
               regIsByteRegister: width == .byte)
    }

    /// MOV r, [m] (8B /r, 8A for bytes).
    mutating func mov(_ width: OperandWidth, _ destination: HostRegister, _ source: HostMemory) {
        encode(width: width, opcode: [width == .byte ? 0x8A : 0x8B], reg: destination.rawValue, rm: .memory(source),
               regIsByteRegister: width == .byte)
    }

    /// MOV r, imm at the register's width (B8+r; B0+r for bytes). For qword this is MOVABS with a 64-bit immediate.
    mutating func mov(_ width: OperandWidth, _ destination: HostRegister, immediate: Int64) {
        encodeRegisterInOpcode(width: width, opcode: width == .byte ? 0xB0 : 0xB8, register: destination)
        immediateBytes(immediate, size: width.rawValue)
    }

    /// MOV r/m64, simm32 (REX.W C7 /0), also for memory at other widths.
    /// A register narrower than a qword takes B8+r (what the assembler picks), which is the same operation.
    mutating func movSignExtended(_ width: OperandWidth, _ destination: HostOperand, immediate: Int32) {
        if width != .qword, case .register(let register) = destination {
            mov(width, register, immediate: Int64(immediate))
            return
        }
        encode(width: width, opcode: [width == .byte ? 0xC6 : 0xC7], reg: 0, rm: destination,
               immediate: Int64(immediate), immediateSize: min(width.rawValue, 4))
    }

    // MARK: Arithmetic

    /// op r/m, r (00+8*op /r; the byte form is one less).
    mutating func arithmetic(_ operation: ArithmeticOperation, _ width: OperandWidth, _ destination: HostOperand,
                             _ source: HostRegister) {
        let opcode = operation.rawValue << 3 | (width == .byte ? 0 : 1)
        encode(width: width, opcode: [opcode], reg: source.rawValue, rm: destination, regIsByteRegister: width == .byte)
    }

    /// op r, [m] (02/03 + 8*op /r).
    mutating func arithmetic(_ operation: ArithmeticOperation, _ width: OperandWidth, _ destination: HostRegister,
                             _ source: HostMemory) {
        let opcode = operation.rawValue << 3 | (width == .byte ? 2 : 3)
        encode(width: width, opcode: [opcode], reg: destination.rawValue, rm: .memory(source),
               regIsByteRegister: width == .byte)
    }

    /// op r/m, imm: 83 /op ib when the immediate fits a signed byte, the accumulator form (04/05 + 8*op) for
    /// AL/AX/EAX/RAX otherwise, else 81 /op (80 /op ib for bytes). Word and wider immediates are at most 32 bits.
    mutating func arithmetic(_ operation: ArithmeticOperation, _ width: OperandWidth, _ destination: HostOperand,
                             immediate: Int32) {
        if width == .byte {
            if case .register(.rax) = destination {
                byte(operation.rawValue << 3 | 4)
                immediateBytes(Int64(immediate), size: 1)
                return
            }
            encode(width: width, opcode: [0x80], reg: operation.rawValue, rm: destination,
                   immediate: Int64(immediate), immediateSize: 1)
            return
        }
        let wide = min(width.rawValue, 4)
        if Int8(exactly: immediate) != nil {
            encode(width: width, opcode: [0x83], reg: operation.rawValue, rm: destination,
                   immediate: Int64(immediate), immediateSize: 1)
        } else if case .register(.rax) = destination {
            if width == .word { byte(0x66) }
            if width == .qword { byte(0x48) }
            byte(operation.rawValue << 3 | 5)
            immediateBytes(Int64(immediate), size: wide)
        } else {
            encode(width: width, opcode: [0x81], reg: operation.rawValue, rm: destination,
                   immediate: Int64(immediate), immediateSize: wide)
        }
    }

    /// TEST r/m, r (84/85 /r).
    mutating func test(_ width: OperandWidth, _ destination: HostOperand, _ source: HostRegister) {
        encode(width: width, opcode: [width == .byte ? 0x84 : 0x85], reg: source.rawValue, rm: destination,
               regIsByteRegister: width == .byte)
    }

    /// TEST r/m, imm (A8/A9 for the accumulator, else F6/F7 /0).
    mutating func test(_ width: OperandWidth, _ destination: HostOperand, immediate: Int32) {
        let size = min(width.rawValue, 4)
        if case .register(.rax) = destination {
            if width == .word { byte(0x66) }
            if width == .qword { byte(0x48) }
            byte(width == .byte ? 0xA8 : 0xA9)
            immediateBytes(Int64(immediate), size: size)
            return
        }
        encode(width: width, opcode: [width == .byte ? 0xF6 : 0xF7], reg: 0, rm: destination,
               immediate: Int64(immediate), immediateSize: size)
    }

    /// INC or DEC r/m (FE/FF /0, /1).
    mutating func increment(_ width: OperandWidth, _ operand: HostOperand, by direction: Int) {
        encode(width: width, opcode: [width == .byte ? 0xFE : 0xFF], reg: direction > 0 ? 0 : 1, rm: operand)
    }

    /// NOT or NEG r/m (F6/F7 /2, /3).
    mutating func unary(_ operation: UnaryOperation, _ width: OperandWidth, _ operand: HostOperand) {
        encode(width: width, opcode: [width == .byte ? 0xF6 : 0xF7], reg: operation.rawValue, rm: operand)
    }

    /// Shift or rotate r/m by an immediate (D0/D1 for a count of 1, else C0/C1 ib).
    mutating func shift(_ operation: ShiftOperation, _ width: OperandWidth, _ operand: HostOperand, count: UInt8) {
        let wide: UInt8 = width == .byte ? 0 : 1
        if count == 1 {
            encode(width: width, opcode: [0xD0 | wide], reg: operation.rawValue, rm: operand)
        } else {
            encode(width: width, opcode: [0xC0 | wide], reg: operation.rawValue, rm: operand,
                   immediate: Int64(count), immediateSize: 1)
        }
    }

    /// Shift or rotate r/m by CL (D2/D3).
    mutating func shiftByCL(_ operation: ShiftOperation, _ width: OperandWidth, _ operand: HostOperand) {
        encode(width: width, opcode: [width == .byte ? 0xD2 : 0xD3], reg: operation.rawValue, rm: operand)
    }

    /// IMUL r, r/m (0F AF /r); word, dword or qword.
    mutating func imul(_ width: OperandWidth, _ destination: HostRegister, _ source: HostOperand) {
        encode(width: width, opcode: [0x0F, 0xAF], reg: destination.rawValue, rm: source)
    }

    /// IMUL r, r/m, imm (6B ib when it fits a signed byte, else 69 id/iw).
    mutating func imul(_ width: OperandWidth, _ destination: HostRegister, _ source: HostOperand, immediate: Int32) {
        if Int8(exactly: immediate) != nil {
            encode(width: width, opcode: [0x6B], reg: destination.rawValue, rm: source,
                   immediate: Int64(immediate), immediateSize: 1)
        } else {
            encode(width: width, opcode: [0x69], reg: destination.rawValue, rm: source,
                   immediate: Int64(immediate), immediateSize: min(width.rawValue, 4))
        }
    }

    /// LEA r, [m] (8D /r).
    mutating func lea(_ width: OperandWidth, _ destination: HostRegister, _ source: HostMemory) {
        encode(width: width, opcode: [0x8D], reg: destination.rawValue, rm: .memory(source))
    }

    // MARK: Moves with extension, conditions, exchange

    /// MOVZX r, r/m8 or r/m16 (0F B6/B7).
    mutating func movzx(_ width: OperandWidth, _ destination: HostRegister, _ sourceWidth: OperandWidth,
                        _ source: HostOperand) {
        extend(width, destination, sourceWidth, source, opcode: sourceWidth == .byte ? 0xB6 : 0xB7)
    }

    /// MOVSX r, r/m8 or r/m16 (0F BE/BF); from a dword, MOVSXD (REX.W 63 /r).
    mutating func movsx(_ width: OperandWidth, _ destination: HostRegister, _ sourceWidth: OperandWidth,
                        _ source: HostOperand) {
        if sourceWidth == .dword {
            encode(width: width, opcode: [0x63], reg: destination.rawValue, rm: source)
            return
        }
        extend(width, destination, sourceWidth, source, opcode: sourceWidth == .byte ? 0xBE : 0xBF)
    }

    private mutating func extend(_ width: OperandWidth, _ destination: HostRegister, _ sourceWidth: OperandWidth,
                                 _ source: HostOperand, opcode: UInt8) {
        // The source's width sets the byte-register rule (SPL-DIL need REX), not the destination's.
        encode(width: width, opcode: [0x0F, opcode], reg: destination.rawValue, rm: source,
               rmIsByteRegister: sourceWidth == .byte)
    }

    /// SETcc r/m8 (0F 90+cc /0).
    mutating func setcc(_ condition: HostCondition, _ operand: HostOperand) {
        encode(width: .byte, opcode: [0x0F, 0x90 | condition.rawValue], reg: 0, rm: operand)
    }

    /// CMOVcc r, r/m (0F 40+cc /r).
    mutating func cmov(_ condition: HostCondition, _ width: OperandWidth, _ destination: HostRegister,
                       _ source: HostOperand) {
        encode(width: width, opcode: [0x0F, 0x40 | condition.rawValue], reg: destination.rawValue, rm: source)
    }

    /// XCHG r/m, r: 90+r when one side is the accumulator (word or wider), else 86/87 /r.
    mutating func xchg(_ width: OperandWidth, _ destination: HostOperand, _ source: HostRegister) {
        if width != .byte, case .register(let other) = destination, other == .rax || source == .rax {
            let register = other == .rax ? source : other
            // XCHG EAX, EAX is not 90 (that is NOP, which would not clear the upper half): the assembler uses 87.
            if width == .qword && register == .rax {   // a no-op either way: the assembler writes plain NOP
                byte(0x90)
                return
            }
            if !(width == .dword && register == .rax) {
                encodeRegisterInOpcode(width: width, opcode: 0x90, register: register)
                return
            }
        }
        // Between two registers the assembler puts the first in the reg field (the operation is symmetric).
        var reg = source, rm = destination
        if case .register(let first) = destination { reg = first; rm = .register(source) }
        encode(width: width, opcode: [width == .byte ? 0x86 : 0x87], reg: reg.rawValue, rm: rm,
               regIsByteRegister: width == .byte)
    }

    /// BSWAP r32/r64 (0F C8+r).
    mutating func bswap(_ width: OperandWidth, _ register: HostRegister) {
        encodeRegisterInOpcode(width: width, prefix: [0x0F], opcode: 0xC8, register: register)
    }

    // MARK: Stack and control flow

    mutating func push(_ register: HostRegister) { encodeRegisterInOpcode(width: nil, opcode: 0x50, register: register) }
    mutating func pop(_ register: HostRegister) { encodeRegisterInOpcode(width: nil, opcode: 0x58, register: register) }
    mutating func pushfq() { byte(0x9C) }
    mutating func popfq() { byte(0x9D) }
    mutating func ret() { byte(0xC3) }

    /// JMP rel32 (E9) to a label.
    mutating func jmp(_ label: Label) {
        byte(0xE9)
        relative32(to: label)
    }

    /// Jcc rel32 (0F 80+cc) to a label.
    mutating func jcc(_ condition: HostCondition, _ label: Label) {
        byte(0x0F)
        byte(0x80 | condition.rawValue)
        relative32(to: label)
    }

    /// CALL rel32 (E8) to a label.
    mutating func call(_ label: Label) {
        byte(0xE8)
        relative32(to: label)
    }

    /// CALL r/m64 (FF /2).
    mutating func call(_ target: HostOperand) {
        encode(width: nil, opcode: [0xFF], reg: 2, rm: target)
    }
}
