import ApusCore
import ApusTesting

/// BMI1 and BMI2 (VEX-encoded, 32- and 64-bit by VEX.W), TZCNT and LZCNT, on random general registers in 64-bit
/// mode: register and memory sources, control registers with small bit indexes and lengths, and now and then a
/// form that must be #UD (VEX.L = 1, a 66/F2/F3 or REX prefix before VEX). Flags the SDM leaves undefined are
/// left out per instruction.
struct BMICases {
    var rng: SplitMix64

    struct Form {
        var map: Int
        var impliedPrefix: Int
        var opcode: UInt8
        var group: Int?
        var name: String
        var undefinedFlags: UInt64
        var immediate = false
        /// RORX has no vvvv operand (it must be 1111b).
        var usesVVVV = true
    }

    static let af: UInt64 = 0x10, pf: UInt64 = 0x04, sf: UInt64 = 0x80, of: UInt64 = 0x800
    static let forms: [Form] = [
        Form(map: 2, impliedPrefix: 0, opcode: 0xF2, name: "andn", undefinedFlags: af | pf),
        Form(map: 2, impliedPrefix: 0, opcode: 0xF3, group: 1, name: "blsr", undefinedFlags: af | pf),
        Form(map: 2, impliedPrefix: 0, opcode: 0xF3, group: 2, name: "blsmsk", undefinedFlags: af | pf),
        Form(map: 2, impliedPrefix: 0, opcode: 0xF3, group: 3, name: "blsi", undefinedFlags: af | pf),
        Form(map: 2, impliedPrefix: 0, opcode: 0xF7, name: "bextr", undefinedFlags: af | sf | pf),
        Form(map: 2, impliedPrefix: 0, opcode: 0xF5, name: "bzhi", undefinedFlags: af | pf),
        Form(map: 2, impliedPrefix: 3, opcode: 0xF5, name: "pdep", undefinedFlags: 0),
        Form(map: 2, impliedPrefix: 2, opcode: 0xF5, name: "pext", undefinedFlags: 0),
        Form(map: 2, impliedPrefix: 3, opcode: 0xF6, name: "mulx", undefinedFlags: 0),
        Form(map: 2, impliedPrefix: 2, opcode: 0xF7, name: "sarx", undefinedFlags: 0),
        Form(map: 2, impliedPrefix: 1, opcode: 0xF7, name: "shlx", undefinedFlags: 0),
        Form(map: 2, impliedPrefix: 3, opcode: 0xF7, name: "shrx", undefinedFlags: 0),
        Form(map: 3, impliedPrefix: 3, opcode: 0xF0, name: "rorx", undefinedFlags: 0, immediate: true, usesVVVV: false),
    ]

    init(rng: SplitMix64) { self.rng = rng }

    mutating func next() -> UserCase {
        var registers = rng.registers()
        // Bit indexes and (start, length) pairs that land inside the operand as often as not.
        for _ in 0..<4 where rng.chance(60) {
            registers[rng.register()] = rng.chance(50) ? UInt64(rng.below(80)) : UInt64(rng.below(80) | rng.below(80) << 8)
        }
        let reg = rng.register(), rm = rng.register(), wide = rng.chance(50)
        let address = UInt32(UserModeLayout.data) + UInt32(rng.below(0x1F00))
        let memory = rng.chance(30)
        let modrmRM: [UInt8] = memory ? [0x25] + X86.bytes(address, 4) : []
        if rng.chance(25) {   // TZCNT / LZCNT, 16/32/64-bit
            let opcode: UInt8 = rng.chance(50) ? 0xBC : 0xBD
            let sizePrefix: [UInt8] = rng.chance(25) ? [0x66] : []
            let code = memory ? X86.absolute([0x0F, opcode], reg: reg, address: address, wide: wide, prefix: sizePrefix + [0xF3])
                : X86.registers([0x0F, opcode], reg: reg, rm: rm, wide: wide, prefix: sizePrefix + [0xF3])
            return UserCase(group: "bmi", code: code, description: "\(opcode == 0xBC ? "tzcnt" : "lzcnt") \(reg), "
                            + (memory ? "[\(hex(address))]" : "\(rm)"), registers: registers,
                            undefinedFlags: Self.of | Self.sf | Self.af | Self.pf)
        }
        let form = rng.pick(Self.forms)
        let vvvv = form.usesVVVV ? rng.register() : 0
        let long = rng.chance(4)
        var before: [UInt8] = []
        if rng.chance(4) { before = [rng.pick([0x66, 0xF2, 0xF3] as [UInt8])] }
        if rng.chance(3) { before = [UInt8(0x40 + rng.below(16))] }
        let inverted = { (bit: Bool) -> UInt8 in bit ? 0 : 1 }
        let byte1 = inverted(reg & 8 != 0) << 7 | 1 << 6 | inverted(!memory && rm & 8 != 0) << 5 | UInt8(form.map)
        let byte2 = (wide ? 0x80 : 0) | UInt8(~vvvv & 15) << 3 | (long ? 4 : 0) | UInt8(form.impliedPrefix)
        let regField = form.group ?? reg
        let modrm: UInt8 = memory ? UInt8(0x04 | (regField & 7) << 3) : UInt8(0xC0 | (regField & 7) << 3 | (rm & 7))
        let immediate: [UInt8] = form.immediate ? [UInt8(truncatingIfNeeded: rng.next())] : []
        let code = before + [0xC4, byte1, byte2, form.opcode, modrm] + modrmRM + immediate
        var description = "\(form.name)\(wide ? " (W)" : "")\(long ? " L1" : "") reg \(reg) vvvv \(vvvv) "
            + (memory ? "[\(hex(address))]" : "rm \(rm)")
        if !before.isEmpty { description = "\(hex(before[0])) " + description }
        return UserCase(group: "bmi", code: code, description: description, registers: registers,
                        undefinedFlags: form.undefinedFlags)
    }
}
