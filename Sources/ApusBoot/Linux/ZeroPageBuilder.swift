/// Builds the 4 KiB zero page (`struct boot_params`) a Linux kernel finds through RSI at its 64-bit entry.
/// Everything the loader does not set stays zero, as the boot protocol asks.
struct ZeroPageBuilder {
    private(set) var bytes = [UInt8](repeating: 0, count: ZeroPage.size)

    /// For a bzImage: its setup header copied in at 0x1F1, then the loader's fields.
    init(copying setupHeader: ArraySlice<UInt8>) {
        for (offset, byte) in zip(ZeroPage.setupSects..<ZeroPage.headerLimit, setupHeader) { bytes[offset] = byte }
        setLoaderFields()
    }

    /// For an ELF vmlinux, which has no setup header: a synthesized one with what the kernel reads.
    init(synthesizingFor commandLineLimit: UInt32, initrdAddressMax: UInt32) {
        set16(ZeroPage.bootFlag, ZeroPage.bootFlagValue)
        for (index, byte) in ZeroPage.headerMagic.enumerated() { bytes[ZeroPage.header + index] = byte }
        set16(ZeroPage.version, BootProtocol.synthesized)
        set32(ZeroPage.commandLineSize, commandLineLimit)
        set32(ZeroPage.initrdAddressMax, initrdAddressMax)
        setLoaderFields()
    }

    /// type_of_loader, loadflags and heap_end_ptr: the fields boot.rst marks obligatory for every loader.
    private mutating func setLoaderFields() {
        bytes[ZeroPage.typeOfLoader] = ZeroPage.loaderUndefined
        bytes[ZeroPage.loadFlags] |= ZeroPage.loadedHigh | ZeroPage.canUseHeap
        set16(ZeroPage.heapEndPointer, ZeroPage.heapEnd)
    }

    mutating func setCode32Start(_ address: UInt32) { set32(ZeroPage.code32Start, address) }

    mutating func setCommandLine(address: UInt32) { set32(ZeroPage.commandLinePointer, address) }

    mutating func setInitrd(address: UInt32, size: UInt32) {
        set32(ZeroPage.ramdiskImage, address)
        set32(ZeroPage.ramdiskSize, size)
    }

    mutating func setMemoryMap(_ entries: [E820Entry]) throws {
        guard entries.count <= ZeroPage.e820MaxEntries else {
            throw BootError.memoryMapTooLarge(entries: entries.count)
        }
        bytes[ZeroPage.e820Entries] = UInt8(entries.count)
        for (index, entry) in entries.enumerated() {
            let base = ZeroPage.e820Table + index * ZeroPage.e820EntrySize
            set64(base, entry.address)
            set64(base + 8, entry.size)
            set32(base + 16, entry.type)
        }
    }

    mutating func set16(_ offset: Int, _ value: UInt16) { put(offset, UInt64(value), 2) }
    mutating func set32(_ offset: Int, _ value: UInt32) { put(offset, UInt64(value), 4) }
    mutating func set64(_ offset: Int, _ value: UInt64) { put(offset, value, 8) }

    private mutating func put(_ offset: Int, _ value: UInt64, _ size: Int) {
        for index in 0..<size { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
    }
}
