/// Starting an instruction from the decode cache (DecodeCache), or decoding it from memory and caching it.
extension CPUCore {
    /// Whether the 16 bytes at `linearAddress` (offset `ip` in CS) can stand in for fetches: inside one page, and in
    /// 16- and 32-bit code not wrapping IP/EIP (which would continue at CS's base instead).
    @inline(__always)
    private func inlineFits(_ linearAddress: UInt64, ip: UInt64) -> Bool {
        linearAddress & 0xFFF <= 0x1000 - 16
            && (is64BitCode || ip &+ 16 <= (defaultSize == 2 ? 0xFFFF : 0xFFFF_FFFF))
    }

    /// The decode-cache entry of the instruction at RIP, if it is there and still valid.
    @inline(__always)
    func cachedInstruction() -> UnsafeMutablePointer<DecodeCache.Entry>? {
        let address = linear(.cs, rip)
        guard inlineFits(address, ip: rip) else { return nil }
        if address >> 12 != fetchPage { cacheFetchPage(address) }   // a fault here is raised by the fetch that follows
        guard address >> 12 == fetchPage, let host = fetchHost else { return nil }
        let offset = Int(address & 0xFFF)
        return decoded.lookup(fetchPhysical | UInt64(offset), page: fetchRAMPage, mode: decodingMode,
                              code: UnsafeRawPointer(host) + offset)
    }

    /// Reads prefixes and opcode from memory, resolves the handler through the opcode maps, and caches the
    /// instruction when its 16 bytes lie in a RAM page. Returns the opcode (0x100 | byte for the 0F map) and handler.
    func decodeOpcode(_ i: inout Instruction) throws -> (UInt64, OpcodeHandler) {
        let address = linear(.cs, i.ip)
        let fits = inlineFits(address, ip: i.ip)
        var opcode = try decodePrefixes(&i)
        if opcode == 0x0F { opcode = 0x100 | (try fetch8(&i)) }
        // decodePrefixes left fetchPage on the instruction's page unless the prefixes ran past 16 bytes. The bytes
        // are read before resolving, so its peeks at ModRM read them too.
        let cacheable = fits && i.cursor <= 16 && address >> 12 == fetchPage && fetchHost != nil
        // Kept in locals for the entry too: reading them back from `i` as one 16-byte load stalled on the two
        // 8-byte stores (perf: the costliest instruction of decodeOpcode).
        var low: UInt64 = 0, high: UInt64 = 0
        if cacheable, let host = fetchHost {
            let offset = Int(address & 0xFFF)
            low = UInt64(littleEndian: host.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            high = UInt64(littleEndian: host.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
            i.low = low
            i.high = high
            i.inline = true
        }
        // #UD by the maps (mode, LOCK, ModRM form, reserved, not implemented); cached entries passed this check.
        let handler = try resolveHandler(&i, opcode)
        // XCHG with a memory operand is locked without the prefix.
        if opcode == 0x86 || opcode == 0x87, try peekModRM(i) >> 6 != 3 { i.lock = true }
        // A peek past the page may have moved fetchPage: the entry is keyed by the instruction's own page.
        if cacheable && address >> 12 == fetchPage {
            let offset = Int(address & 0xFFF)
            var entry = DecodeCache.Entry()
            entry.low = low
            entry.high = high
            entry.opcode = UInt16(opcode)
            entry.handler = handler
            entry.opcodeLength = UInt8(i.cursor)
            entry.operandSize = UInt8(i.operandSize)
            entry.addressSize = UInt8(i.addressSize)
            entry.rex = i.rex
            entry.segment = i.segment.map { UInt8($0.rawValue + 1) } ?? 0
            entry.repeatPrefix = i.repeatPrefix
            entry.operandSizePrefix = i.operandSizePrefix
            entry.lock = i.lock
            // Another vCPU may have stored to the page between the read above and the marking in `insert` (which
            // its store then did not see): the bytes read again after marking must be the ones decoded.
            if let cached = decoded.insert(entry, physical: fetchPhysical | UInt64(offset), page: fetchRAMPage,
                                           mode: decodingMode), let host = fetchHost {
                if UInt64(littleEndian: host.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) == low,
                   UInt64(littleEndian: host.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self)) == high {
                    i.entry = cached
                } else {
                    cached.pointee.tag = 0
                }
            }
        }
        return (opcode, handler)
    }

    /// The byte after the opcode, without consuming it.
    private func peekModRM(_ i: Instruction) throws -> UInt64 {
        var peek = i
        return try fetch8(&peek)
    }

}

extension Instruction {
    /// An instruction whose prefixes and opcode come from the decode cache; fetches read the cached bytes.
    @inline(__always)
    init(cached entry: UnsafeMutablePointer<DecodeCache.Entry>, start: UInt64, ip: UInt64) {
        let segment = entry.pointee.segment
        self.init(start: start, ip: ip, operandSize: Int(entry.pointee.operandSize),
                  addressSize: Int(entry.pointee.addressSize), rex: entry.pointee.rex,
                  segment: segment == 0 ? nil : SegmentRegister(rawValue: Int(segment) &- 1),
                  repeatPrefix: entry.pointee.repeatPrefix, operandSizePrefix: entry.pointee.operandSizePrefix,
                  cursor: Int(entry.pointee.opcodeLength), inline: true, low: entry.pointee.low,
                  high: entry.pointee.high, entry: entry, lock: entry.pointee.lock)
    }
}
