import ApusCore
import ApusSoftCPU
import ApusTesting

/// Cases drawn from the opcode maps (OpcodeMap): every one-byte, 0F, 0F 38 and 0F 3A entry valid in 64-bit mode whose CPUID
/// feature the software CPU's model advertises gets cases in turn, so an entry added to the map is compared with KVM
/// without anyone listing it here. Each case is the entry's mandatory prefix, sometimes a REX prefix, its opcode, a
/// ModRM of the entry's form (its group in ModRM.reg) and random displacement and immediate bytes.
///
/// What this host's KVM cannot referee is left out exactly as for the random-bytes group (RandomByteCases.classify
/// says why for each), except 66 0F 2B MOVNTPD, which random-bytes leaves out with any mandatory prefix because
/// of the F2/F3 (SSE4a) forms. The
/// entries left out entirely are printed when the group starts. The 0F 38 and 0F 3A maps get cases for the
/// entries whose feature is advertised (SSSE3, SSE4.1, SSE4.2; AES, SHA, MOVBE... are not claimed). Cases start with
/// random XMM registers (RandomByteCases.makeCase); the sse4 group compares the XMM results themselves.
struct OpcodeMapCases {
    var rng: SplitMix64
    private var turn = 0

    init(rng: SplitMix64) { self.rng = rng }

    /// Entries the group should cover: instructions valid at CPL3 in 64-bit mode with an advertised feature.
    static let candidates: [OpcodeMapEntry] = OpcodeMap.instructions(validIn: .long64).filter {
        CPUModel.default.advertises($0.feature)
    }

    /// Candidates that KVM can referee in some form, and those it cannot referee in any (tried with 64 random tails).
    static let partition: (drawn: [OpcodeMapEntry], leftOut: [OpcodeMapEntry]) = {
        var probe = SplitMix64(seed: 0x0DDC_0FFE_E000_0018)
        var drawn: [OpcodeMapEntry] = [], leftOut: [OpcodeMapEntry] = []
        for entry in candidates {
            let refereed = (0..<64).contains { _ in
                let (prefixes, _, tail) = encode(entry, rng: &probe)
                return classify(entry, prefixes: prefixes, tail: tail) != nil
            }
            if refereed { drawn.append(entry) } else { leftOut.append(entry) }
        }
        return (drawn, leftOut)
    }()
    static var drawn: [OpcodeMapEntry] { partition.drawn }
    static var leftOut: [OpcodeMapEntry] { partition.leftOut }

    static var summary: String {
        let names = leftOut.map { "\($0.opcodeText) \($0.mnemonic)" }
        return "opcode-map: \(candidates.count) map entries valid at CPL3 in 64-bit mode with an advertised feature, "
            + "\(drawn.count) drawn in turn; \(leftOut.count) left out because this host's KVM cannot referee them "
            + "(see RandomByteCases): " + names.joined(separator: ", ")
    }

    mutating func next() -> UserCase {
        let entry = Self.drawn[turn % Self.drawn.count]
        turn += 1
        while true {
            let (prefixes, opcode, tail) = Self.encode(entry, rng: &rng)
            let twoByte = entry.map != .oneByte
            guard let undefined = Self.classify(entry, prefixes: prefixes, tail: tail) else { continue }
            return RandomByteCases.makeCase(group: "opcode-map", description: "\(entry.opcodeText) \(entry.mnemonic)",
                                            prefixes: prefixes, twoByte: twoByte, opcode: opcode, tail: tail,
                                            undefinedFlags: undefined, rng: &rng)
        }
    }

    /// RandomByteCases.classify with this group's exception (see above).
    static func classify(_ entry: OpcodeMapEntry, prefixes: [UInt8], tail: [UInt8]) -> UInt64? {
        if entry.map == .twoByte && entry.opcode == 0x2B && entry.prefix == .operandSize { return 0 }
        let opcode: UInt8 = entry.map == .threeByte38 ? 0x38 : (entry.map == .threeByte3A ? 0x3A : entry.opcode)
        return RandomByteCases.classify(prefixes: prefixes, twoByte: entry.map != .oneByte, opcode: opcode, tail: tail)
    }

    /// The prefixes (mandatory prefix, then REX in 40% of cases) and the 12 bytes after the opcode, ModRM first.
    /// The second opcode byte of a three-byte entry (38 or 3A) stands in the opcode's place and its third byte
    /// leads the tail, as RandomByteCases lays them out.
    static func encode(_ entry: OpcodeMapEntry, rng: inout SplitMix64) -> ([UInt8], UInt8, [UInt8]) {
        let (prefixes, tail) = encodeOneOrTwoByte(entry, rng: &rng)
        switch entry.map {
        case .threeByte38: return (prefixes, 0x38, [entry.opcode] + tail.prefix(11))
        case .threeByte3A: return (prefixes, 0x3A, [entry.opcode] + tail.prefix(11))
        default: return (prefixes, entry.opcode, tail)
        }
    }

    static func encodeOneOrTwoByte(_ entry: OpcodeMapEntry, rng: inout SplitMix64) -> ([UInt8], [UInt8]) {
        var prefixes: [UInt8] = entry.prefix == .none ? [] : [entry.prefix.rawValue]
        if rng.chance(40) { prefixes.append(UInt8(0x40 + rng.below(16))) }
        var tail = (0..<12).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let reg = entry.group.map { $0 << 3 } ?? (tail[0] & 0x38)
        switch entry.form {
        case .none: break
        case .any: tail[0] = tail[0] & 0xC7 | reg
        case .memoryOnly: tail[0] = (tail[0] >> 6 == 3 ? tail[0] & 0x3F : tail[0]) & 0xC7 | reg
        case .registerOnly, .registerIgnoringMod: tail[0] = 0xC0 | reg | tail[0] & 7
        case .fixed(let modrm), .registerGroup(let modrm): tail[0] = modrm
        }
        return (prefixes, tail)
    }
}
