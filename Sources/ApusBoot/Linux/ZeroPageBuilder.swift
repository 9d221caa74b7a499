/// Builds the 4 KiB zero page (`boot_params`) a Linux kernel reads at entry through RSI.
struct ZeroPageBuilder {
    private(set) var bytes = [UInt8](repeating: 0, count: ZeroPage.size)

    /// Starts from the setup header of a bzImage (copied as the boot protocol asks) or a synthesized one for vmlinux.
    init(setupHeader: ArraySlice<UInt8>?) {
        if let setupHeader {
            for (offset, byte) in zip(ZeroPage.setupSects..., setupHeader) where offset < ZeroPage.headerEnd {
                bytes[offset] = byte
            }
        } else {
            set16(ZeroPage.bootFlag, 0xAA55)
            for (index, byte) in "HdrS".utf8.enumerated() { bytes[ZeroPage.header + index] = byte }
            set16(ZeroPage.version, 0x020F)
            set32(ZeroPage.kernelAlignment, 0x20_0000)
            set32(ZeroPage.commandLineSize, 2047)
            set32(ZeroPage.initrdAddressMax, 0x7FFF_FFFF)
        }
        bytes[ZeroPage.typeOfLoader] = ZeroPage.loaderUndefined
        bytes[ZeroPage.loadFlags] |= ZeroPage.loadedHigh | ZeroPage.canUseHeap
        // The heap ends just below the zero page's own 0x200 boot-sector mirror, as for a loader at 0x7000.
        set16(ZeroPage.heapEndPointer, 0xFE00)
    }

    func get16(_ offset: Int) -> UInt16 { UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8 }
    func get32(_ offset: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) } }

    mutating func set16(_ offset: Int, _ value: UInt16) { put(offset, UInt64(value), 2) }
    mutating func set32(_ offset: Int, _ value: UInt32) { put(offset, UInt64(value), 4) }
    mutating func set64(_ offset: Int, _ value: UInt64) { put(offset, value, 8) }

    mutating func setCommandLine(address: UInt32) { set32(ZeroPage.commandLinePointer, address) }

    mutating func setInitrd(address: UInt32, size: UInt32) {
        set32(ZeroPage.ramdiskImage, address)
        set32(ZeroPage.ramdiskSize, size)
    }

    mutating func setMemoryMap(_ entries: [E820Entry]) {
        bytes[ZeroPage.e820Entries] = UInt8(entries.count)
        for (index, entry) in entries.prefix(ZeroPage.e820MaxEntries).enumerated() {
            let base = ZeroPage.e820Table + index * ZeroPage.e820EntrySize
            set64(base, entry.address)
            set64(base + 8, entry.size)
            set32(base + 16, entry.kind.rawValue)
        }
    }

    private mutating func put(_ offset: Int, _ value: UInt64, _ size: Int) {
        for i in 0..<size { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }
}
