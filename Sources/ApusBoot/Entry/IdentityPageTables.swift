import ApusCore

/// The long-mode page tables entry states use: PML4 → one PDPT → four page directories of 2 MiB pages, mapping
/// guest-virtual = guest-physical for the first 4 GiB. Mapping past the end of RAM is harmless (nothing is
/// accessed there but MMIO), and 4 GiB covers every device window below 4 GiB.
enum IdentityPageTables {
    static let present: UInt64 = 1 << 0
    static let writable: UInt64 = 1 << 1
    static let largePage: UInt64 = 1 << 7
    static let mappedGiB: UInt64 = 4

    /// The six 4 KiB tables, 0x9000-0xEFFF, as 64-bit entries.
    static func entries() -> [UInt64] {
        var words = [UInt64](repeating: 0, count: 512 * 6)
        words[0] = LowMemory.pdpt | present | writable
        for gigabyte in 0..<mappedGiB {
            let directory = LowMemory.pageDirectories + gigabyte * 0x1000
            words[512 + Int(gigabyte)] = directory | present | writable
            for entry in 0..<UInt64(512) {
                let frame = gigabyte << 30 | entry << 21
                words[Int((directory - LowMemory.pml4) / 8 + entry)] = frame | present | writable | largePage
            }
        }
        return words
    }

    static func write(into memory: GuestMemory) throws {
        try memory.placeWords(entries(), at: LowMemory.pml4, what: "the loader's page tables")
    }
}
