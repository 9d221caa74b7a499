/// Resolving a freshly decoded instruction to its handler through the dispatch table (DispatchTable): this is where
/// the opcode maps decide #UD. It runs once per decode; a decode-cache hit reuses the handler.
extension CPUCore {
    /// The mode column of the maps the core is in (compatibility mode decodes as protected mode).
    var mapMode: CPUModes { is64BitCode ? .long64 : (protectedMode ? .protected : .real) }

    /// The handler of the instruction whose prefixes and opcode `i` has just read (`opcode` as decodeOpcode returns
    /// it: 0x100 | byte for the 0F map). Peeks at the third byte of 0F 38/0F 3A and at ModRM, without consuming
    /// them; throws #UD where the maps say the encoding is undefined here or not implemented.
    @inline(__always)
    func resolveHandler(_ i: inout Instruction, _ opcode: UInt64) throws -> OpcodeHandler {
        // The common case inline (perf: a call and a memory peek here cost ~2% of Linux's boot): an opcode whose
        // answer needs no prefix, at most the ModRM byte among the bytes decodeOpcode has loaded, and no LOCK.
        let quick = dispatchSlots[Int(truncatingIfNeeded: opcode & 0x1FF) &* 4 &+ (is64BitCode ? 2 : (protectedMode ? 1 : 0))]
        if quick & QuickResolution.direct != 0 {
            if !i.lock { return OpcodeHandler(tableValue: UInt8(truncatingIfNeeded: quick)) }
        } else if quick & (QuickResolution.byPrefix | QuickResolution.fullModRM) == 0 && quick != 0 && !i.lock
                    && i.inline && i.cursor < Self.maximumInstructionLength {
            let value = dispatchPages[Int(quick & (QuickResolution.fullModRM - 1)) &* 16
                                      &+ QuickResolution.compactIndex(inlineByte(i, at: i.cursor))]
            if value != 0 { return OpcodeHandler(tableValue: value & ~QuickResolution.lockable) }
        }
        return try resolveOutOfLine(&i, opcode)
    }

    /// Byte `at` of an instruction whose 16 bytes are loaded (`i.inline`).
    @inline(__always)
    private func inlineByte(_ i: Instruction, at: Int) -> Int {
        Int(truncatingIfNeeded: (at < 8 ? i.low >> UInt64(at &* 8) : i.high >> UInt64((at &- 8) &* 8)) & 0xFF)
    }

    /// The rest of the quick tables (mandatory prefixes, LOCK, 0F 38/0F 3A, bytes read from memory), then the rows.
    @inline(never)
    private func resolveOutOfLine(_ i: inout Instruction, _ opcode: UInt64) throws -> OpcodeHandler {
        var slot = Int(truncatingIfNeeded: opcode & 0x1FF)
        var ahead = 0
        if slot == 0x138 || slot == 0x13A {
            slot = (slot == 0x138 ? 0x200 : 0x300) | Int(try peekByte(&i, ahead: 0))
            ahead = 1
        }
        let quick = dispatchSlots[slot &* 4 &+ (is64BitCode ? 2 : (protectedMode ? 1 : 0))]
        if quick != 0 && quick & QuickResolution.direct == 0 {
            let full = quick & QuickResolution.fullModRM != 0
            var start = Int(quick & (QuickResolution.fullModRM - 1)) &* 16
            if quick & QuickResolution.byPrefix != 0 {
                let index = i.repeatPrefix == 0xF3 ? 2 : (i.repeatPrefix == 0xF2 ? 3 : (i.operandSizePrefix ? 1 : 0))
                start &+= index &* (full ? 256 : 16)
            }
            var offset = 0
            if quick & QuickResolution.byModRM != 0 {
                let modrm = Int(try peekByte(&i, ahead: ahead))
                offset = full ? modrm : QuickResolution.compactIndex(modrm)
            }
            let value = dispatchPages[start &+ offset]
            if value != 0 && (!i.lock || value & QuickResolution.lockable != 0) {
                return OpcodeHandler(tableValue: value & ~QuickResolution.lockable)
            }
        }
        return try resolveThroughRows(&i, opcode)
    }

    /// The byte `ahead` bytes past what `i` has read, without consuming it.
    func peekByte(_ i: inout Instruction, ahead: Int) throws -> UInt64 {
        let cursor = i.cursor, ip = i.ip
        defer { i.cursor = cursor; i.ip = ip }
        for _ in 0..<ahead { _ = try fetch8(&i) }
        return try fetch8(&i)
    }

    /// The full resolve: prefix variants, ModRM groups and forms, LOCK. Reached for #UD, not implemented, and any
    /// encoding the quick tables leave to it.
    private func resolveThroughRows(_ i: inout Instruction, _ opcode: UInt64) throws -> OpcodeHandler {
        var map: OpcodeMapID = opcode >= 0x100 ? .twoByte : .oneByte
        var code = UInt8(truncatingIfNeeded: opcode)
        var ahead = 0
        if map == .twoByte && (code == 0x38 || code == 0x3A) {
            map = code == 0x38 ? .threeByte38 : .threeByte3A
            code = UInt8(truncatingIfNeeded: try peekByte(&i, ahead: 0))
            ahead = 1
        }
        let table = DispatchTable.shared
        let modrm: UInt8? = table.needsModRM(map, code) ? UInt8(truncatingIfNeeded: try peekByte(&i, ahead: ahead)) : nil
        let prefix = i.repeatPrefix != 0 ? i.repeatPrefix : (i.operandSizePrefix ? 0x66 : 0)
        switch table.resolve(map, code, prefix: prefix, modrm: modrm, mode: mapMode, lock: i.lock) {
        case .handler(let handler): return handler
        case .undefined: throw CPUFault.ud
        case .notImplemented:
            let key = map == .threeByte38 || map == .threeByte3A ? 0x1_0000 | opcode << 8 | UInt64(code) : opcode
            throw notImplemented(key, i)
        }
    }
}
