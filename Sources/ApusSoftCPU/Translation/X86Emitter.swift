/// Writes x86-64 machine code into a byte buffer: the encoding rules (prefixes, REX, ModRM, SIB, displacements,
/// immediates) and labels for forward and backward jumps. The instruction forms are in X86Emitter+Forms.swift.
///
/// Where the architecture offers two encodings of one instruction, the emitter picks the one the LLVM assembler
/// picks (the shortest displacement, the accumulator forms), so its output can be checked byte for byte against it.
struct X86Emitter {
    private(set) var bytes: [UInt8] = []

    /// A place in the code a jump can target; bound once.
    struct Label: Hashable { fileprivate let id: Int }
    private var labelOffsets: [Int?] = []
    /// rel32 fields waiting for their label: where the field starts and which label it targets.
    private var fixups: [(at: Int, label: Label)] = []

    init() { bytes.reserveCapacity(512) }

    var count: Int { bytes.count }

    mutating func byte(_ value: UInt8) { bytes.append(value) }

    mutating func little<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    // MARK: Labels

    mutating func makeLabel() -> Label {
        labelOffsets.append(nil)
        return Label(id: labelOffsets.count - 1)
    }

    mutating func bind(_ label: Label) {
        precondition(labelOffsets[label.id] == nil, "label bound twice")
        labelOffsets[label.id] = bytes.count
    }

    /// A rel32 field targeting `label`, patched by `finish()`.
    mutating func relative32(to label: Label) {
        fixups.append((bytes.count, label))
        little(Int32(0))
    }

    /// Patches every jump and returns the code. Every used label must be bound.
    mutating func finish() -> [UInt8] {
        for fixup in fixups {
            guard let target = labelOffsets[fixup.label.id] else { preconditionFailure("jump to an unbound label") }
            let relative = Int32(target - (fixup.at + 4))
            withUnsafeBytes(of: relative.littleEndian) { raw in
                for i in 0..<4 { bytes[fixup.at + i] = raw[i] }
            }
        }
        fixups.removeAll()
        return bytes
    }

    // MARK: Encoding

    /// One instruction with a ModRM byte: [66] [REX] opcode ModRM [SIB] [disp] [imm].
    /// `reg` is the ModRM reg field (a register number 0-15 or an opcode extension); `regIsByteRegister` says it names
    /// a byte register (SPL-DIL then need a REX prefix), as `rmIsByteRegister` does for r/m (by default: a byte
    /// operation). `width` nil: no size prefix (the opcode fixes it).
    mutating func encode(width: OperandWidth?, opcode: [UInt8], reg: UInt8, rm: HostOperand,
                         regIsByteRegister: Bool = false, rmIsByteRegister: Bool? = nil, immediate: Int64 = 0,
                         immediateSize: Int = 0) {
        if width == .word { byte(0x66) }
        var rex: UInt8 = width == .qword ? 0x08 : 0
        if reg >= 8 { rex |= 0x04 }
        var needsREX = regIsByteRegister && (4...7).contains(reg)
        switch rm {
        case .register(let register):
            if register.extended { rex |= 0x01 }
            if rmIsByteRegister ?? (width == .byte), (4...7).contains(register.rawValue) { needsREX = true }
        case .memory(let memory):
            if memory.base.extended { rex |= 0x01 }
            if let index = memory.index, index.extended { rex |= 0x02 }
        }
        if rex != 0 || needsREX { byte(0x40 | rex) }
        bytes.append(contentsOf: opcode)
        modRM(reg: reg & 7, rm: rm)
        immediateBytes(immediate, size: immediateSize)
    }

    mutating func immediateBytes(_ value: Int64, size: Int) {
        switch size {
        case 0: break
        case 1: little(Int8(truncatingIfNeeded: value))
        case 2: little(Int16(truncatingIfNeeded: value))
        case 4: little(Int32(truncatingIfNeeded: value))
        default: little(value)
        }
    }

    private mutating func modRM(reg: UInt8, rm: HostOperand) {
        switch rm {
        case .register(let register):
            byte(0xC0 | reg << 3 | register.low3)
        case .memory(let memory):
            let displacement = memory.displacement
            // RBP/R13 as base with mod 00 would mean RIP-relative or no base: they always carry a displacement.
            let mod: UInt8 = displacement == 0 && memory.base.low3 != 5 ? 0 : (Int8(exactly: displacement) != nil ? 1 : 2)
            if memory.index != nil || memory.base.low3 == 4 {
                byte(mod << 6 | reg << 3 | 4)
                let scaleBits: UInt8 = memory.index == nil || memory.scale == 1 ? 0 : (memory.scale == 2 ? 1 : (memory.scale == 4 ? 2 : 3))
                byte(scaleBits << 6 | (memory.index?.low3 ?? 4) << 3 | memory.base.low3)
            } else {
                byte(mod << 6 | reg << 3 | memory.base.low3)
            }
            if mod == 1 { little(Int8(displacement)) } else if mod == 2 { little(displacement) }
        }
    }

    /// An instruction whose register is in the opcode's low three bits (PUSH, POP, BSWAP, MOV r, imm).
    mutating func encodeRegisterInOpcode(width: OperandWidth?, prefix: [UInt8] = [], opcode: UInt8,
                                         register: HostRegister) {
        if width == .word { byte(0x66) }
        var rex: UInt8 = width == .qword ? 0x08 : 0
        if register.extended { rex |= 0x01 }
        if rex != 0 || (width == .byte && (4...7).contains(register.rawValue)) { byte(0x40 | rex) }
        bytes.append(contentsOf: prefix)
        byte(opcode | register.low3)
    }
}
