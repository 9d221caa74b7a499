/// The opcode maps (OpcodeMap) turned at start-up into what the decoder reads: per map and opcode, a run of compact
/// rows with the mandatory prefix, ModRM.reg group and form, the modes, LOCK, and the handler (OpcodeHandler). An
/// instruction is resolved once, when it is first decoded (the decode cache then keeps the handler), so #UD for an
/// encoding invalid in the current mode, a LOCK the map forbids, a register form where the map allows only memory
/// (or the reverse), a reserved slot or an entry without a handler all come from the maps.
struct DispatchTable: Sendable {
    struct Row: Sendable {
        /// 0, 0x66, 0xF3 or 0xF2.
        var prefix: UInt8
        /// ModRM.reg, or 0xFF when any.
        var group: UInt8
        var form: Form
        var fixedModRM: UInt8
        /// CPUModes raw value.
        var modes: UInt8
        var lockable: Bool
        var isInstruction: Bool
        var handler: OpcodeHandler
    }

    enum Form: UInt8, Sendable {
        case none, any, memoryOnly, registerOnly, fixed, registerIgnoringMod, registerGroup
    }

    /// What an encoding resolves to.
    enum Resolution: Equatable {
        case handler(OpcodeHandler)
        /// Reserved, invalid in this mode, or a LOCK the entry does not allow: #UD as on hardware.
        case undefined
        /// A valid instruction the software CPU does not implement: #UD, and worth a line in the VM log.
        case notImplemented
    }

    /// Rows of map m, opcode o are rows[first[m * 256 + o] ..< first[m * 256 + o + 1]].
    private let rows: [Row]
    private let first: [Int32]
    /// Per map and opcode: whether any row has a ModRM byte (only then does resolving read it).
    private let hasModRM: [Bool]
    /// Per map and opcode: whether a row names one whole ModRM byte (then every byte may resolve differently).
    private let hasFixedModRM: [Bool]

    static let shared = DispatchTable(OpcodeMap.entries)

    /// The resolutions precomputed for the decoder (DispatchTable+Quick.swift). Built once, never freed.
    static let quick = QuickResolution(shared)

    init(_ entries: [OpcodeMapEntry]) {
        var buckets = [[Row]](repeating: [], count: 4 * 256)
        for entry in entries where entry.feature != .prefix {
            let (form, fixed): (Form, UInt8)
            switch entry.form {
            case .none: (form, fixed) = (.none, 0)
            case .any: (form, fixed) = (.any, 0)
            case .memoryOnly: (form, fixed) = (.memoryOnly, 0)
            case .registerOnly: (form, fixed) = (.registerOnly, 0)
            case .registerIgnoringMod: (form, fixed) = (.registerIgnoringMod, 0)
            case .fixed(let modrm): (form, fixed) = (.fixed, modrm)
            case .registerGroup: (form, fixed) = (.registerGroup, 0)
            }
            let row = Row(prefix: entry.prefix.rawValue, group: entry.group ?? 0xFF, form: form, fixedModRM: fixed,
                          modes: entry.modes.rawValue, lockable: entry.lockable, isInstruction: entry.isInstruction,
                          handler: OpcodeHandler.bound(to: entry) ?? .none)
            buckets[entry.map.rawValue * 256 + Int(entry.opcode)].append(row)
        }
        var rows: [Row] = []
        var first: [Int32] = []
        for bucket in buckets {
            first.append(Int32(rows.count))
            rows += bucket
        }
        first.append(Int32(rows.count))
        self.rows = rows
        self.first = first
        hasModRM = buckets.map { bucket in bucket.contains { $0.form != .none } }
        hasFixedModRM = buckets.map { bucket in bucket.contains { $0.form == .fixed } }
    }

    /// Whether resolving `opcode` of `map` needs its ModRM byte.
    func needsModRM(_ map: OpcodeMapID, _ opcode: UInt8) -> Bool {
        hasModRM[map.rawValue * 256 + Int(opcode)]
    }

    /// Whether a row of `opcode` of `map` is selected by one whole ModRM byte (D9 E0, 0F 01 C8).
    func hasFixedModRM(_ map: OpcodeMapID, _ opcode: UInt8) -> Bool {
        hasFixedModRM[map.rawValue * 256 + Int(opcode)]
    }

    /// The entry `opcode` of `map` names with the mandatory prefix `prefix` (the last F2/F3, else 66, else 0) and
    /// `modrm` (nil when no row has one) in `mode`. Among the rows that match, one with the exact prefix wins over
    /// an unprefixed one, and a fixed ModRM byte over a group, a group over the whole opcode. A prefixed variant
    /// without a handler yields to the unprefixed instruction, as on a CPU without that feature (F3 0F BC runs as
    /// BSF without BMI1).
    func resolve(_ map: OpcodeMapID, _ opcode: UInt8, prefix: UInt8, modrm: UInt8?, mode: CPUModes,
                 lock: Bool) -> Resolution {
        let slot = map.rawValue * 256 + Int(opcode)
        var best: Row?
        var bestRank = -1
        var unprefixed: Row?
        var unprefixedRank = -1
        for index in Int(first[slot])..<Int(first[slot + 1]) {
            let row = rows[index]
            guard row.modes & mode.rawValue != 0, row.prefix == 0 || row.prefix == prefix,
                  let formRank = Self.formRank(row, modrm) else { continue }
            let rank = (row.prefix == prefix ? 8 : 0) + formRank
            if rank > bestRank { best = row; bestRank = rank }
            if row.prefix == 0 && formRank > unprefixedRank { unprefixed = row; unprefixedRank = formRank }
        }
        guard var row = best else { return .undefined }
        if row.isInstruction && row.handler == .none, let fallback = unprefixed, fallback.handler != .none {
            row = fallback
        }
        guard row.isInstruction else { return .undefined }
        // LOCK only on a read-modify-write of memory that the entry allows it on (SDM Vol. 2, LOCK).
        if lock && !(row.lockable && modrm.map { $0 >> 6 != 3 } == true) { return .undefined }
        return row.handler == .none ? .notImplemented : .handler(row.handler)
    }

    /// How specifically `row` matches `modrm` (higher wins), or nil when it does not.
    @inline(__always)
    private static func formRank(_ row: Row, _ modrm: UInt8?) -> Int? {
        guard let modrm else { return row.form == .none ? 0 : nil }
        let isRegister = modrm >> 6 == 3
        let groupMatches = row.group == 0xFF || row.group == (modrm >> 3) & 7
        let groupRank = row.group == 0xFF ? 1 : 2
        switch row.form {
        case .none: return 0
        case .fixed: return row.fixedModRM == modrm ? 4 : nil
        case .any, .registerIgnoringMod: return groupMatches ? groupRank : nil
        case .memoryOnly: return groupMatches && !isRegister ? groupRank : nil
        case .registerOnly, .registerGroup: return groupMatches && isRegister ? groupRank : nil
        }
    }
}
