/// Resolving a freshly decoded instruction to its handler through the dispatch table (DispatchTable): this is where
/// the opcode maps decide #UD. It runs once per decode; a decode-cache hit reuses the handler.
extension CPUCore {
    /// The mode column of the maps the core is in (compatibility mode decodes as protected mode).
    var mapMode: CPUModes { is64BitCode ? .long64 : (protectedMode ? .protected : .real) }

    /// The handler of the instruction whose prefixes and opcode `i` has just read (`opcode` as decodeOpcode returns
    /// it: 0x100 | byte for the 0F map). Peeks at the third byte of 0F 38/0F 3A and at ModRM, without consuming
    /// them; throws #UD where the maps say the encoding is undefined here or not implemented.
    @inline(__always)
    func resolveHandler(_ i: Instruction, _ opcode: UInt64) throws -> OpcodeHandler {
        // Most opcodes resolve the same whatever follows them: one load, no ModRM peek (LOCK needs the full check).
        // The index is (map * 256 + opcode) * 4 + mode, and opcode is 0x1xx for the 0F map.
        if !i.lock && opcode != 0x138 && opcode != 0x13A {
            let raw = dispatchDirect[Int(truncatingIfNeeded: opcode & 0x1FF) &* 4 &+ (is64BitCode ? 2 : (protectedMode ? 1 : 0))]
            if raw != 0, let handler = OpcodeHandler(rawValue: raw) { return handler }
        }
        return try resolveThroughRows(i, opcode)
    }

    /// The full resolve: prefix variants, ModRM groups and forms, LOCK.
    private func resolveThroughRows(_ i: Instruction, _ opcode: UInt64) throws -> OpcodeHandler {
        var peek = i
        var map: OpcodeMapID = opcode >= 0x100 ? .twoByte : .oneByte
        var code = UInt8(truncatingIfNeeded: opcode)
        if map == .twoByte && (code == 0x38 || code == 0x3A) {
            map = code == 0x38 ? .threeByte38 : .threeByte3A
            code = UInt8(truncatingIfNeeded: try fetch8(&peek))
        }
        let table = DispatchTable.shared
        let modrm: UInt8? = table.needsModRM(map, code) ? UInt8(truncatingIfNeeded: try fetch8(&peek)) : nil
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
