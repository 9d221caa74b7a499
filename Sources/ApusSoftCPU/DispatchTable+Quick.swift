/// The dispatch table's answers precomputed per map, opcode, mode, mandatory prefix and ModRM byte, so resolving a
/// freshly decoded instruction costs one or two loads instead of a scan of its rows. Linux's boot decodes tens of
/// millions of instructions outside the decode cache (flushed on every exit and serializing instruction); perf put
/// the row scan, and the Instruction copy it took, at ~4% of the boot's samples (bench/README.md, issue 18).
///
/// `slots[(map * 256 + opcode) * 4 + mode]` (mode 0 real, 1 protected, 2 64-bit) is
///  - 0: scan the rows (an encoding without a handler in that mode);
///  - 0x8000 | handler: that handler whatever the prefixes (no ModRM byte, so a LOCK is #UD: left to the scan);
///  - otherwise a page of `pages`, starting at 16 × bits 0-11; bit 13 set when the answer depends on the ModRM byte
///    (the byte after the opcode), bit 14 when it depends on the mandatory prefix (then four pages in a row: none,
///    66, F3, F2). A page has 16 bytes, indexed by ModRM.reg + 8 when mod = 11 (all an answer depends on unless a
///    row names a whole ModRM byte), or with bit 12 set 256, indexed by the ModRM byte (x87, 0F 01...). Each byte is
///    handler | 0x80 when LOCK may prefix that form, 0 to scan the rows (#UD or not implemented, which the scan
///    tells apart). Small pages keep the hot ones in a few cache lines (perf: the 256-byte pages missed).
struct QuickResolution: @unchecked Sendable {
    static let direct: UInt16 = 0x8000
    static let fullModRM: UInt16 = 0x1000
    static let byModRM: UInt16 = 0x2000
    static let byPrefix: UInt16 = 0x4000
    static let lockable: UInt8 = 0x80

    /// Built once at start-up, never freed (plain pointers: the decoder reads them without Array's checks).
    let slots: UnsafeMutablePointer<UInt16>
    let pages: UnsafeMutablePointer<UInt8>
    /// The size of `pages`.
    let pageBytes: Int

    /// The index of mandatory prefix `prefix` (0, 66, F3, F2) among a slot's four pages.
    static let prefixes: [UInt8] = [0, 0x66, 0xF3, 0xF2]

    init(_ table: DispatchTable) {
        precondition(OpcodeHandler.allCases.allSatisfy { $0.rawValue < Self.lockable }, "handlers must fit 7 bits")
        precondition(MemoryLayout<OpcodeHandler>.size == 1 && OpcodeHandler.allCases.enumerated().allSatisfy {
            Int($0.element.rawValue) == $0.offset && unsafeBitCast($0.element, to: UInt8.self) == $0.element.rawValue
        }, "OpcodeHandler(tableValue:) needs raw values equal to the stored values")
        var slots = [UInt16](repeating: 0, count: 4 * 256 * 4)
        var pages: [UInt8] = []
        var known: [[UInt8]: Int] = [:]
        let modes: [CPUModes] = [.real, .protected, .long64]
        for map in OpcodeMapID.allCases {
            for opcode in UInt8.min...UInt8.max {
                let needsModRM = table.needsModRM(map, opcode)
                let anyFixed = table.hasFixedModRM(map, opcode)
                for (modeIndex, mode) in modes.enumerated() {
                    let perPrefix = Self.prefixes.map { prefix in
                        Self.page(table, map, opcode, prefix: prefix, mode: mode, needsModRM: needsModRM,
                                  everyByte: anyFixed)
                    }
                    let samePrefixes = perPrefix.allSatisfy { $0 == perPrefix[0] }
                    guard perPrefix.contains(where: { $0.contains { $0 != 0 } }) else { continue }
                    let slot = (map.rawValue * 256 + Int(opcode)) * 4 + modeIndex
                    if !needsModRM && samePrefixes {
                        slots[slot] = Self.direct | UInt16(perPrefix[0][0] & ~Self.lockable)
                        continue
                    }
                    let compact = perPrefix.map { page in anyFixed ? page : (0..<16).map { page[Self.modrm(ofIndex: $0)] } }
                    let block = samePrefixes ? compact[0] : compact.flatMap { $0 }
                    let first: Int
                    if let index = known[block] {
                        first = index
                    } else {
                        first = pages.count / 16
                        known[block] = first
                        pages += block
                    }
                    precondition(first < Int(Self.fullModRM), "too many resolution pages")
                    slots[slot] = UInt16(first) | (needsModRM ? Self.byModRM : 0) | (samePrefixes ? 0 : Self.byPrefix)
                        | (anyFixed ? Self.fullModRM : 0)
                }
            }
        }
        self.slots = .allocate(capacity: slots.count)
        self.slots.initialize(from: slots, count: slots.count)
        self.pages = .allocate(capacity: max(pages.count, 1))
        self.pages.initialize(from: pages, count: pages.count)
        pageBytes = pages.count
    }

    /// A compact page's index for `modrm`: reg, plus 8 for the register form.
    @inline(__always)
    static func compactIndex(_ modrm: Int) -> Int { (modrm >> 3) & 7 | (modrm >= 0xC0 ? 8 : 0) }

    /// The ModRM byte a compact page's `index` stands for.
    private static func modrm(ofIndex index: Int) -> Int { (index & 7) << 3 | (index >= 8 ? 0xC0 : 0) }

    /// One prefix's page: the resolution of every ModRM byte (all the same when the opcode has none). Without a
    /// fixed-ModRM row the answer depends only on mod = 11 or not and on reg, so 16 bytes stand for all 256.
    private static func page(_ table: DispatchTable, _ map: OpcodeMapID, _ opcode: UInt8, prefix: UInt8,
                             mode: CPUModes, needsModRM: Bool, everyByte: Bool) -> [UInt8] {
        guard needsModRM else {
            return [UInt8](repeating: value(table, map, opcode, prefix: prefix, modrm: nil, mode: mode), count: 256)
        }
        var representatives: [UInt8: UInt8] = [:]
        return (0..<256).map { byte in
            let modrm = UInt8(byte)
            if everyByte { return value(table, map, opcode, prefix: prefix, modrm: modrm, mode: mode) }
            let representative = (modrm & 0xC0 == 0xC0 ? 0xC0 : 0) | modrm & 0x38
            if let known = representatives[representative] { return known }
            let result = value(table, map, opcode, prefix: prefix, modrm: representative, mode: mode)
            representatives[representative] = result
            return result
        }
    }

    private static func value(_ table: DispatchTable, _ map: OpcodeMapID, _ opcode: UInt8, prefix: UInt8,
                              modrm: UInt8?, mode: CPUModes) -> UInt8 {
        guard case .handler(let handler) = table.resolve(map, opcode, prefix: prefix, modrm: modrm, mode: mode,
                                                         lock: false) else { return 0 }
        let locked = table.resolve(map, opcode, prefix: prefix, modrm: modrm, mode: mode, lock: true)
        return handler.rawValue | (locked == .handler(handler) ? lockable : 0)
    }

    /// What the precomputed tables answer for an encoding, or nil where the decoder scans the rows. `modeIndex` 0
    /// real, 1 protected, 2 64-bit; `modrm` is read only when the slot depends on it.
    func handler(_ map: OpcodeMapID, _ opcode: UInt8, prefix: UInt8, modrm: UInt8, modeIndex: Int,
                 lock: Bool) -> OpcodeHandler? {
        let quick = slots[(map.rawValue * 256 + Int(opcode)) * 4 + modeIndex]
        if quick & Self.direct != 0 { return lock ? nil : OpcodeHandler(rawValue: UInt8(truncatingIfNeeded: quick)) }
        guard quick != 0 else { return nil }
        let full = quick & Self.fullModRM != 0
        var start = Int(quick & (Self.fullModRM - 1)) * 16
        if quick & Self.byPrefix != 0 { start += (Self.prefixes.firstIndex(of: prefix) ?? 0) * (full ? 256 : 16) }
        let offset = quick & Self.byModRM == 0 ? 0 : (full ? Int(modrm) : Self.compactIndex(Int(modrm)))
        let value = pages[start + offset]
        guard value != 0, !lock || value & Self.lockable != 0 else { return nil }
        return OpcodeHandler(rawValue: value & ~Self.lockable)
    }
}
