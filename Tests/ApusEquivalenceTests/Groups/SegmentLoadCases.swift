import ApusCore
import ApusSoftCPU
import ApusTesting

/// Segment loads at CPL3 in 64-bit mode, drawn from the opcode maps: every entry valid there that loads a segment
/// register (MOV Sreg, POP FS/GS, LSS/LFS/LGS; LDS/LES and POP ES/DS/SS are #UD in 64-bit mode, which the legacy
/// group covers) in turn, with selectors from SegmentTables — null, each RPL, DPL 0-3 data, read-only data, readable,
/// execute-only and conforming code, not-present data and code, a call gate, the LDT and TSS descriptors, a
/// reserved system type, LDT entries, indices beyond either table's limit — and some random ones. MOV to CS and to
/// the reserved Sreg encodings 6 and 7 are #UD.
///
/// The SDM's outcome (SegmentLoadRule) is checked for every case; KVM referees the whole state (registers, flags,
/// memory including the descriptor tables' accessed bits) for the loads it answers from the guest's tables on this
/// host (SegmentLoadRefereeCheck). Left out: reading a selector back (MOV r/m, Sreg; PUSH FS/GS) and FS/GS-relative
/// accesses, which see the host's segment registers where KVM runs ring 3 natively; REX.W on LSS/LFS/LGS (m16:64
/// on Intel, m16:32 on AMD).
struct SegmentLoadCases {
    var rng: SplitMix64
    private var turn = 0

    init(rng: SplitMix64) { self.rng = rng }

    /// The map entries the group draws in turn.
    static let entries: [OpcodeMapEntry] = OpcodeMap.instructions(validIn: .long64).filter { entry in
        entry.mnemonic.hasPrefix("MOV Sw") || ["POP FS", "POP GS"].contains(entry.mnemonic)
            || ["LSS", "LFS", "LGS"].contains { entry.mnemonic.hasPrefix($0 + " ") }
    }

    static var summary: String {
        "segment-loads: \(entries.count) map entries drawn in turn: " + entries.map { "\($0.opcodeText) \($0.mnemonic)" }
            .joined(separator: ", ")
    }

    /// A selector: mostly a descriptor of SegmentTables' GDT or LDT (or just beyond either) with any RPL, sometimes
    /// any 16-bit value.
    private mutating func selector() -> UInt16 {
        if rng.chance(10) { return UInt16(truncatingIfNeeded: rng.next()) }
        let rpl = UInt16(rng.below(4))
        if rng.chance(25) { return UInt16(rng.below(SegmentTables.ldt.count + 2) * 8) | 4 | rpl }
        return UInt16(rng.below(SegmentTables.gdtSlots.count + 2) * 8) | rpl
    }

    mutating func next() -> UserCase {
        let entry = Self.entries[turn % Self.entries.count]
        turn += 1
        var userCase = UserCase(group: "segment-loads", code: [], description: "", registers: rng.registers())
        let selector = self.selector()
        let address = UInt32(UserModeLayout.data) + UInt32(rng.below(0x1000 - 16))
        let source = rng.register()
        // Only the low 16 bits of a register or stack slot are the selector.
        userCase.registers[source] = rng.next() << 16 | UInt64(selector)
        var setup: [UInt8] = []
        var load: [UInt8]
        var register: Int
        switch entry.opcode {
        case 0x8E:
            register = rng.chance(90) ? rng.pick([0, 2, 3, 4, 5]) : rng.pick([1, 6, 7])
            let prefix: [UInt8] = rng.chance(20) ? [0x66] : []
            if rng.chance(50) {
                load = X86.registers([0x8E], reg: register, rm: source, wide: rng.chance(30), prefix: prefix)
            } else {
                setup = X86.absolute([0x89], reg: source, address: address, wide: false, prefix: [0x66])
                load = X86.absolute([0x8E], reg: register, address: address, wide: rng.chance(30), prefix: prefix)
            }
        case 0xA1, 0xA9:
            register = entry.opcode == 0xA1 ? 4 : 5
            setup = X86.push(source)
            load = (rng.chance(25) ? [0x66] : []) + (rng.chance(25) ? [0x48] : []) + [0x0F, entry.opcode]
        default:
            // LSS/LFS/LGS r, m16:16/32: the offset, then the selector, stored by the case itself. (REX.W's m16:64
            // is Intel's; AMD, such as this host, ignores REX.W there and reads m16:32: vendors differ.)
            register = [0xB2: 2, 0xB4: 4, 0xB5: 5][entry.opcode] ?? 3
            let wide = false, narrow = rng.chance(30)
            let width = narrow ? 2 : 4
            let offsetRegister = rng.register(excluding: [source])
            let destination = rng.register()
            setup = X86.absolute([0x89], reg: offsetRegister, address: address, wide: true)
                + X86.absolute([0x89], reg: source, address: address + UInt32(width), wide: false, prefix: [0x66])
            load = X86.absolute([0x0F, entry.opcode], reg: destination, address: address, wide: wide,
                                prefix: narrow ? [0x66] : [])
        }
        userCase.code = setup + load
        let loadAt = UserModeLayout.codeBase + UInt64(setup.count)
        let end = UserModeLayout.codeBase + UInt64(userCase.code.count)
        let names = ["es", "cs", "ss", "ds", "fs", "gs", "sreg6", "sreg7"]
        userCase.description = "\(entry.mnemonic) \(names[register]) <- \(hex(selector))"
        if [1, 6, 7].contains(register) {
            userCase.manualTrap = ManualTrap(vector: 6, errorCode: 0, rip: loadAt)
        } else {
            userCase.segmentLoad = SegmentLoad(selector: selector, register: register)
            userCase.manualTrap = ManualTrap(SegmentLoadRule.load(selector, into: register), loadAt: loadAt, end: end)
        }
        return userCase
    }
}
