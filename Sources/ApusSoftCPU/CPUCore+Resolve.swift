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
        // The precomputed answer (DispatchTable+Quick.swift): one load, or two with the ModRM byte.
        var slot = Int(truncatingIfNeeded: opcode & 0x1FF)
        var ahead = 0
        if slot == 0x138 || slot == 0x13A {
            slot = (slot == 0x138 ? 0x200 : 0x300) | Int(try peekByte(&i, ahead: 0))
            ahead = 1
        }
        let quick = dispatchSlots[slot &* 4 &+ (is64BitCode ? 2 : (protectedMode ? 1 : 0))]
        if quick & QuickResolution.direct != 0 {
            if !i.lock, let handler = OpcodeHandler(rawValue: UInt8(truncatingIfNeeded: quick)) { return handler }
        } else if quick != 0 {
            var page = Int(quick & (QuickResolution.byModRM - 1)) &- 1
            if quick & QuickResolution.byPrefix != 0 {
                page &+= i.repeatPrefix == 0xF3 ? 2 : (i.repeatPrefix == 0xF2 ? 3 : (i.operandSizePrefix ? 1 : 0))
            }
            let modrm = quick & QuickResolution.byModRM != 0 ? Int(try peekByte(&i, ahead: ahead)) : 0
            let value = dispatchPages[page &* 256 &+ modrm]
            if !i.lock || value & QuickResolution.lockable != 0,
               let handler = OpcodeHandler(rawValue: value & ~QuickResolution.lockable), handler != .none {
                return handler
            }
        }
        return try resolveThroughRows(&i, opcode)
    }

    /// The byte `ahead` bytes past what `i` has read, without consuming it.
    @inline(__always)
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
