/// Reads guest instructions of the translatable subset (64-bit mode, register operands, no faults) from a page's
/// bytes. Anything else — other prefixes, memory operands, instructions that can fault or touch system state — is
/// `nil`, and the interpreter runs it. This is its own small decoder on purpose: the tier depends on the instruction
/// bytes only, not on the interpreter's decoder types.
struct GuestBlockDecoder {
    let bytes: UnsafeRawPointer
    /// How many bytes may be read from `bytes` (up to the end of the page).
    let available: Int

    /// The instruction at `offset`, whose first byte is at guest RIP `rip`, if it is in the subset.
    func decode(at offset: Int, rip: UInt64) -> GuestInstruction? {
        var cursor = offset
        func next() -> UInt8? {
            guard cursor < available, cursor - offset < 15 else { return nil }
            defer { cursor += 1 }
            return bytes.load(fromByteOffset: cursor, as: UInt8.self)
        }
        func take(_ count: Int) -> [UInt8]? {
            var taken: [UInt8] = []
            for _ in 0..<count { guard let byte = next() else { return nil }; taken.append(byte) }
            return taken
        }
        var operandSizePrefix = false, addressSizePrefix = false
        var byte: UInt8
        while true {
            guard let b = next() else { return nil }
            if b == 0x66 { operandSizePrefix = true } else if b == 0x67 { addressSizePrefix = true } else { byte = b; break }
        }
        var rex: UInt8 = 0
        if byte & 0xF0 == 0x40 {
            rex = byte
            guard let b = next() else { return nil }
            byte = b
        }
        let width = rex & 8 != 0 ? 8 : (operandSizePrefix ? 2 : 4)
        let immediateWidth = min(width, 4)
        var instruction = GuestInstruction(length: 0, operandSizePrefix: operandSizePrefix, rex: rex, form: .nothing)
        // Register-form ModRM: mod must be 3. Returns (reg, rm) with REX.R/REX.B applied.
        func registerModRM() -> (reg: UInt8, rm: UInt8)? {
            guard let modrm = next(), modrm >> 6 == 3 else { return nil }
            return ((modrm >> 3) & 7 | (rex & 4) << 1, modrm & 7 | (rex & 1) << 3)
        }
        func finish(_ form: GuestInstruction.Form, immediate: Int = 0) -> GuestInstruction? {
            guard let bytes = take(immediate) else { return nil }
            instruction.form = form
            instruction.immediate = bytes
            instruction.length = cursor - offset
            return instruction
        }
        func modRM(_ opcode: [UInt8], regIsRegister: Bool = true, regIsByte: Bool, rmIsByte: Bool,
                   implicit: [UInt8] = [], immediate: Int = 0, allowedExtensions: [UInt8] = Array(0...7))
            -> GuestInstruction? {
            guard let (reg, rm) = registerModRM() else { return nil }
            if !regIsRegister && !allowedExtensions.contains(reg & 7) { return nil }
            return finish(.modRM(opcode: opcode, reg: regIsRegister ? reg : reg & 7, regIsRegister: regIsRegister,
                                 regIsByte: regIsByte, rm: rm, rmIsByte: rmIsByte, implicit: implicit),
                          immediate: immediate)
        }
        // The 67 prefix changes only LEA's arithmetic among these; elsewhere the interpreter decides.
        if addressSizePrefix && byte != 0x8D { return nil }

        if byte == 0x0F {
            guard let second = next() else { return nil }
            switch second {
            case 0x40...0x4F:   // CMOVcc
                return modRM([0x0F, second], regIsByte: false, rmIsByte: false)
            case 0x90...0x9F:   // SETcc
                return modRM([0x0F, second], regIsRegister: false, regIsByte: false, rmIsByte: true,
                             allowedExtensions: [0])
            case 0xAF:          // IMUL r, r/m
                return modRM([0x0F, second], regIsByte: false, rmIsByte: false)
            case 0xB6, 0xBE:    // MOVZX/MOVSX r, r/m8
                return modRM([0x0F, second], regIsByte: false, rmIsByte: true)
            case 0xB7, 0xBF:    // MOVZX/MOVSX r, r/m16
                return modRM([0x0F, second], regIsByte: false, rmIsByte: false)
            case 0xA3, 0xAB, 0xB3, 0xBB:   // BT, BTS, BTR, BTC r/m, r
                return modRM([0x0F, second], regIsByte: false, rmIsByte: false)
            case 0xBA:          // BT, BTS, BTR, BTC r/m, imm8
                return modRM([0x0F, second], regIsRegister: false, regIsByte: false, rmIsByte: false, immediate: 1,
                             allowedExtensions: [4, 5, 6, 7])
            case 0xC8...0xCF where !operandSizePrefix:   // BSWAP (undefined on 16-bit registers)
                return finish(.registerInOpcode(opcode: [0x0F, 0xC8], register: second & 7 | (rex & 1) << 3,
                                                isByte: false, implicit: []))
            case 0x80...0x8F where !operandSizePrefix:
                guard let displacement = take(4) else { return nil }
                let value = Int64(Int32(bitPattern: UInt32(displacement[0]) | UInt32(displacement[1]) << 8
                                        | UInt32(displacement[2]) << 16 | UInt32(displacement[3]) << 24))
                let end = rip &+ UInt64(cursor - offset)
                return finish(.branch(condition: second & 0xF, target: end &+ UInt64(bitPattern: value)))
            case 0x1F:          // the multi-byte NOP: its ModRM names memory it never touches
                guard let modrm = next(), (modrm >> 3) & 7 == 0, skipAddress(modrm, &cursor, offset) else { return nil }
                return finish(.nothing)
            default:
                return nil
            }
        }

        switch byte {
        case 0x00...0x3F where byte & 7 < 6:
            switch byte & 7 {
            case 0...3:
                let isByte = byte & 1 == 0
                return modRM([byte], regIsByte: isByte, rmIsByte: isByte)
            case 4: return finish(.implicitOnly(opcode: [byte], registers: [0]), immediate: 1)
            default: return finish(.implicitOnly(opcode: [byte], registers: [0]), immediate: immediateWidth)
            }
        case 0x63:
            return modRM([byte], regIsByte: false, rmIsByte: false)
        case 0x69:
            return modRM([byte], regIsByte: false, rmIsByte: false, immediate: immediateWidth)
        case 0x6B:
            return modRM([byte], regIsByte: false, rmIsByte: false, immediate: 1)
        case 0x80:
            return modRM([byte], regIsRegister: false, regIsByte: false, rmIsByte: true, immediate: 1)
        case 0x81:
            return modRM([byte], regIsRegister: false, regIsByte: false, rmIsByte: false, immediate: immediateWidth)
        case 0x83:
            return modRM([byte], regIsRegister: false, regIsByte: false, rmIsByte: false, immediate: 1)
        case 0x84...0x8B:   // TEST, XCHG, MOV between registers
            let isByte = byte & 1 == 0
            return modRM([byte], regIsByte: isByte, rmIsByte: isByte)
        case 0x8D:
            return decodeLEA(&cursor, offset: offset, rip: rip, rex: rex, into: &instruction,
                             addressSize32: addressSizePrefix)
        case 0x90 where rex & 1 == 0:
            return finish(.nothing)
        case 0x90...0x97:
            return finish(.registerInOpcode(opcode: [0x90], register: byte & 7 | (rex & 1) << 3, isByte: false,
                                            implicit: [0]))
        case 0x98:
            return finish(.implicitOnly(opcode: [byte], registers: [0]))
        case 0x99:
            return finish(.implicitOnly(opcode: [byte], registers: [0, 2]))
        case 0xA8:
            return finish(.implicitOnly(opcode: [byte], registers: [0]), immediate: 1)
        case 0xA9:
            return finish(.implicitOnly(opcode: [byte], registers: [0]), immediate: immediateWidth)
        case 0xB0...0xB7:
            return finish(.registerInOpcode(opcode: [0xB0], register: byte & 7 | (rex & 1) << 3, isByte: true,
                                            implicit: []), immediate: 1)
        case 0xB8...0xBF:
            return finish(.registerInOpcode(opcode: [0xB8], register: byte & 7 | (rex & 1) << 3, isByte: false,
                                            implicit: []), immediate: width)
        case 0xC0, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3:   // shifts and rotates (/6 is an alias the interpreter decides)
            let isByte = byte & 1 == 0
            let implicit: [UInt8] = byte >= 0xD2 ? [1] : []
            return modRM([byte], regIsRegister: false, regIsByte: false, rmIsByte: isByte, implicit: implicit,
                         immediate: byte <= 0xC1 ? 1 : 0, allowedExtensions: [0, 1, 2, 3, 4, 5, 7])
        case 0xC6, 0xC7:
            return modRM([byte], regIsRegister: false, regIsByte: false, rmIsByte: byte == 0xC6,
                         immediate: byte == 0xC6 ? 1 : immediateWidth, allowedExtensions: [0])
        case 0xF5, 0xF8, 0xF9:   // CMC, CLC, STC
            return finish(.implicitOnly(opcode: [byte], registers: []))
        case 0xF6, 0xF7:         // TEST imm, NOT, NEG, MUL, IMUL (never DIV, which can fault)
            let isByte = byte == 0xF6
            guard let modrm = peek(cursor), (modrm >> 3) & 7 != 1 else { return nil }
            let extensionIsTest = (modrm >> 3) & 7 == 0
            return modRM([byte], regIsRegister: false, regIsByte: false, rmIsByte: isByte, implicit: [0, 2],
                         immediate: extensionIsTest ? (isByte ? 1 : immediateWidth) : 0, allowedExtensions: [0, 2, 3, 4, 5])
        case 0xFE, 0xFF:         // INC, DEC
            return modRM([byte], regIsRegister: false, regIsByte: false, rmIsByte: byte == 0xFE,
                         allowedExtensions: [0, 1])
        case 0x70...0x7F, 0xEB:
            guard let displacement = next() else { return nil }
            let end = rip &+ UInt64(cursor - offset)
            let target = end &+ UInt64(bitPattern: Int64(Int8(bitPattern: displacement)))
            return finish(.branch(condition: byte == 0xEB ? nil : byte & 0xF, target: target))
        case 0xE9 where !operandSizePrefix:
            guard let displacement = take(4) else { return nil }
            let value = Int64(Int32(bitPattern: UInt32(displacement[0]) | UInt32(displacement[1]) << 8
                                    | UInt32(displacement[2]) << 16 | UInt32(displacement[3]) << 24))
            let end = rip &+ UInt64(cursor - offset)
            return finish(.branch(condition: nil, target: end &+ UInt64(bitPattern: value)))
        default:
            return nil
        }
    }

    private func peek(_ cursor: Int) -> UInt8? {
        cursor < available ? bytes.load(fromByteOffset: cursor, as: UInt8.self) : nil
    }

    private func load32(_ cursor: Int) -> Int32 {
        var value: UInt32 = 0
        for i in 0..<4 { value |= UInt32(bytes.load(fromByteOffset: cursor + i, as: UInt8.self)) << (8 * UInt32(i)) }
        return Int32(bitPattern: value)
    }

    /// Steps over a memory ModRM's SIB and displacement (the multi-byte NOP). False if they run past the bytes.
    private func skipAddress(_ modrm: UInt8, _ cursor: inout Int, _ offset: Int) -> Bool {
        let mod = modrm >> 6, rm = modrm & 7
        guard mod != 3 else { return true }
        var length = 0
        var base: UInt8 = rm
        if rm == 4 {
            guard let sib = peek(cursor) else { return false }
            base = sib & 7
            length += 1
        }
        length += mod == 1 ? 1 : (mod == 2 || (mod == 0 && base == 5) ? 4 : 0)
        if mod == 0 && rm == 5 { length = 4 }
        cursor += length
        return cursor <= available && cursor - offset <= 15
    }

    /// LEA r, [base + index * scale + disp] or [rip + disp]; forms without a base register go to the interpreter.
    private func decodeLEA(_ cursor: inout Int, offset: Int, rip: UInt64, rex: UInt8,
                           into instruction: inout GuestInstruction, addressSize32: Bool) -> GuestInstruction? {
        guard let modrm = peek(cursor) else { return nil }
        cursor += 1
        let mod = modrm >> 6, rm = modrm & 7
        let destination = (modrm >> 3) & 7 | (rex & 4) << 1
        guard mod != 3 else { return nil }   // LEA with a register operand is #UD
        var base: UInt8? = rm | (rex & 1) << 3
        var index: UInt8?
        var scale: UInt8 = 1
        var ripRelative = false
        if rm == 4 {
            guard let sib = peek(cursor) else { return nil }
            cursor += 1
            scale = 1 << (sib >> 6)
            let indexBits = (sib >> 3) & 7 | (rex & 2) << 2
            index = indexBits == 4 ? nil : indexBits
            base = sib & 7 | (rex & 1) << 3
            if sib & 7 == 5 && mod == 0 { base = nil }
        } else if rm == 5 && mod == 0 {
            ripRelative = true
            base = nil
        }
        let displacementSize = mod == 1 ? 1 : (mod == 2 || base == nil ? 4 : 0)
        guard cursor + displacementSize <= available, cursor + displacementSize - offset <= 15 else { return nil }
        let displacement: Int32 = displacementSize == 1
            ? Int32(Int8(bitPattern: bytes.load(fromByteOffset: cursor, as: UInt8.self)))
            : (displacementSize == 4 ? load32(cursor) : 0)
        cursor += displacementSize
        instruction.length = cursor - offset
        if ripRelative {
            var address = rip &+ UInt64(instruction.length) &+ UInt64(bitPattern: Int64(displacement))
            if addressSize32 { address &= 0xFFFF_FFFF }
            instruction.form = .constantAddress(destination: destination, address: address)
            return instruction
        }
        guard let base else { return nil }
        instruction.form = .lea(destination: destination, base: base, index: index, scale: scale,
                                displacement: displacement, addressSize32: addressSize32)
        return instruction
    }
}
