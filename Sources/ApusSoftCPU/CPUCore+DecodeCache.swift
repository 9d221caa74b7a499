/// Starting an instruction from the decode cache (DecodeCache), or decoding it from memory and caching it.
extension CPUCore {
    /// Whether the 16 bytes at `linearAddress` (offset `ip` in CS) can stand in for fetches: inside one page, and in
    /// 16- and 32-bit code not wrapping IP/EIP (which would continue at CS's base instead).
    @inline(__always)
    private func inlineFits(_ linearAddress: UInt64, ip: UInt64) -> Bool {
        linearAddress & 0xFFF <= 0x1000 - 16
            && (is64BitCode || ip &+ 16 <= (defaultSize == 2 ? 0xFFFF : 0xFFFF_FFFF))
    }

    /// Reads prefixes and opcode, from the cache when the instruction at RIP is there, else from memory (caching it
    /// when it lies in a RAM page). Returns the opcode, 0x100 | byte for the 0F map.
    @inline(__always)
    func decodeOpcode(_ i: inout Instruction) throws -> UInt64 {
        let address = linear(.cs, i.ip)
        let fits = inlineFits(address, ip: i.ip)
        if fits && address >> 12 != fetchPage { cacheFetchPage(address) }   // a fault here is raised by the fetch below
        if fits && address >> 12 == fetchPage && fetchHost != nil,
           let entry = decoded.lookup(fetchPhysical | (address & 0xFFF), page: fetchRAMPage, mode: decodingMode) {
            i.entry = entry
            return resume(&i, entry.pointee)
        }
        var opcode = try decodePrefixes(&i)
        if opcode == 0x0F { opcode = 0x100 | (try fetch8(&i)) }
        // decodePrefixes left fetchPage on the instruction's page unless the prefixes ran past 16 bytes.
        if fits && i.cursor <= 16 && address >> 12 == fetchPage, let host = fetchHost {
            let offset = Int(address & 0xFFF)
            i.low = UInt64(littleEndian: host.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
            i.high = UInt64(littleEndian: host.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
            i.inline = true
            var entry = DecodeCache.Entry()
            entry.low = i.low
            entry.high = i.high
            entry.opcode = UInt16(opcode)
            entry.opcodeLength = UInt8(i.cursor)
            entry.operandSize = UInt8(i.operandSize)
            entry.addressSize = UInt8(i.addressSize)
            entry.rex = i.rex
            entry.segment = i.segment.map { UInt8($0.rawValue + 1) } ?? 0
            entry.repeatPrefix = i.repeatPrefix
            entry.operandSizePrefix = i.operandSizePrefix
            i.entry = decoded.insert(entry, physical: fetchPhysical | UInt64(offset), page: fetchRAMPage,
                                     mode: decodingMode)
        }
        return opcode
    }

    @inline(__always)
    private func resume(_ i: inout Instruction, _ entry: DecodeCache.Entry) -> UInt64 {
        i.inline = true
        i.low = entry.low
        i.high = entry.high
        i.cursor = Int(entry.opcodeLength)
        i.ip = advanced(i.ip, by: i.cursor)
        i.operandSize = Int(entry.operandSize)
        i.addressSize = Int(entry.addressSize)
        i.rex = entry.rex
        i.segment = entry.segment == 0 ? nil : SegmentRegister(rawValue: Int(entry.segment) - 1)
        i.repeatPrefix = entry.repeatPrefix
        i.operandSizePrefix = entry.operandSizePrefix
        return UInt64(entry.opcode)
    }
}
