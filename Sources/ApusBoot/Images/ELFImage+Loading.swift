public import ApusCore

extension ELFImage {
    /// Copies every segment to its physical address and zeroes the rest of its memory size (the BSS).
    /// Every segment must lie inside RAM and at or above `reservedBelow`; nothing is written unless all do.
    public func load(into memory: GuestMemory, reservedBelow: UInt64) throws {
        try checkPlacement(in: memory, reservedBelow: reservedBelow)
        for segment in segments {
            // Parsing checked offset + size against the file.
            let contents = bytes[Int(segment.fileOffset)..<Int(segment.fileOffset + segment.fileSize)]
            let what = "the ELF segment at \(hex(segment.physicalAddress))"
            try memory.place(contents, at: segment.physicalAddress, what: what)
            try memory.placeZeros(at: segment.physicalAddress + segment.fileSize,
                                  count: segment.memorySize - segment.fileSize, what: what)
        }
    }

    /// Throws unless every segment lies in RAM at or above `reservedBelow`.
    func checkPlacement(in memory: GuestMemory, reservedBelow: UInt64) throws {
        for segment in segments {
            guard segment.physicalAddress >= reservedBelow else {
                throw BootError.segmentInReservedArea(address: segment.physicalAddress, reservedEnd: reservedBelow)
            }
            guard memory.holds(segment.physicalAddress, size: segment.memorySize) else {
                throw BootError.segmentOutsideMemory(address: segment.physicalAddress, size: segment.memorySize,
                                                     memorySize: memory.size)
            }
        }
    }

    /// Throws unless a long-mode entry lands inside the identity map the entry state builds.
    func checkEntryIsMapped() throws {
        guard entry < IdentityPageTables.mappedGiB << 30 else { throw BootError.entryNotMapped(entry: entry) }
    }
}
