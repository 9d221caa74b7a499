/// The length of one 64-bit-mode instruction from its bytes (prefixes, REX, opcode, ModRM, SIB, displacement,
/// immediate), so the random-bytes group can run exactly one instruction followed by the runner's HLT padding
/// instead of whatever its leftover random bytes happen to decode to. Opcodes the group leaves out (VEX) need no
/// length; an undefined opcode faults before its length matters.
enum InstructionLength {
    /// The instruction's length, and where its displacement is (offset, size; size 0 when it has none) and whether
    /// that displacement is RIP-relative.
    struct Layout { var length: Int; var displacementAt = 0; var displacementSize = 0; var ripRelative = false }

    static func of(_ bytes: [UInt8]) -> Layout {
        var layout = Layout(length: 0)
        var index = 0, operandSize16 = false, addressSize32 = false, wide = false
        while index < bytes.count, RandomByteCases.prefixes.contains(bytes[index]) {
            if bytes[index] == 0x66 { operandSize16 = true }
            if bytes[index] == 0x67 { addressSize32 = true }
            index += 1
        }
        if index < bytes.count, bytes[index] & 0xF0 == 0x40 {
            wide = bytes[index] & 8 != 0
            index += 1
        }
        let z = operandSize16 && !wide ? 2 : 4
        let opcode = bytes[index]
        index += 1
        var hasModRM: Bool, immediate: Int
        if opcode == 0x0F {
            let second = bytes[index]
            index += 1
            switch second {
            case 0x38: (hasModRM, immediate) = (true, 0); index += 1    // the third opcode byte, then ModRM
            case 0x3A: (hasModRM, immediate) = (true, 1); index += 1
            case 0x05...0x09, 0x0B, 0x0E, 0x30...0x37, 0x77, 0xA0...0xA2, 0xA8...0xAA, 0xC8...0xCF:
                (hasModRM, immediate) = (false, 0)
            case 0x80...0x8F: (hasModRM, immediate) = (false, 4)
            case 0x0F, 0x70...0x73, 0xA4, 0xAC, 0xBA, 0xC2, 0xC4...0xC6: (hasModRM, immediate) = (true, 1)
            default: (hasModRM, immediate) = (true, 0)
            }
        } else {
            switch opcode {
            case 0x00...0x3F where opcode & 7 < 4: (hasModRM, immediate) = (true, 0)
            case 0x00...0x3F where opcode & 7 == 4: (hasModRM, immediate) = (false, 1)
            case 0x00...0x3F where opcode & 7 == 5: (hasModRM, immediate) = (false, z)
            case 0x62, 0x63, 0x84...0x8F, 0xC4, 0xC5, 0xD0...0xD3, 0xD8...0xDF, 0xFE, 0xFF: (hasModRM, immediate) = (true, 0)
            case 0x69, 0x81, 0xC7: (hasModRM, immediate) = (true, z)
            case 0x6B, 0x80, 0x82, 0x83, 0xC0, 0xC1, 0xC6: (hasModRM, immediate) = (true, 1)
            case 0x68: (hasModRM, immediate) = (false, z)
            case 0x6A, 0x70...0x7F, 0xA8, 0xB0...0xB7, 0xCD, 0xD4, 0xD5, 0xE0...0xE7, 0xEB: (hasModRM, immediate) = (false, 1)
            case 0xA9: (hasModRM, immediate) = (false, z)
            case 0xA0...0xA3: (hasModRM, immediate) = (false, addressSize32 ? 4 : 8)
            case 0xB8...0xBF: (hasModRM, immediate) = (false, wide ? 8 : z)
            case 0xC2, 0xCA: (hasModRM, immediate) = (false, 2)
            case 0xC8: (hasModRM, immediate) = (false, 3)
            case 0xE8, 0xE9: (hasModRM, immediate) = (false, 4)
            case 0xF6, 0xF7:
                let reg = (bytes[index] >> 3) & 7
                (hasModRM, immediate) = (true, reg < 2 ? (opcode == 0xF6 ? 1 : z) : 0)
            default: (hasModRM, immediate) = (false, 0)
            }
        }
        if hasModRM {
            let modrm = bytes[index]
            index += 1
            let mod = modrm >> 6, rm = modrm & 7
            if mod != 3 {
                var size = mod == 1 ? 1 : (mod == 2 ? 4 : 0)
                if rm == 4 {
                    let base = bytes[index] & 7
                    index += 1
                    if mod == 0 && base == 5 { size = 4 }
                } else if mod == 0 && rm == 5 {
                    size = 4
                    layout.ripRelative = true
                }
                layout.displacementAt = index
                layout.displacementSize = size
                index += size
            }
        }
        layout.length = index + immediate
        return layout
    }
}
