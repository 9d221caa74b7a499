import ApusCore

/// The RAM pages the VMM, a device or a loader wrote since this CPU last looked: each region's `decodedCode` set in
/// its HostWriteLog, numbered as PhysicalRAM numbers pages. Taking them bumps those pages' decode-cache generations,
/// so the CPU decodes exactly the overwritten code afresh instead of dropping the whole cache at every exit.
struct HostWrittenCode {
    private let sets: [DirtyPageSet]
    /// The RAM page number (PhysicalRAM's) of each region's first page.
    private let firstPages: [Int]

    /// Starts recording: writes made before this are not seen, which is right for a CPU whose cache is still empty.
    init(memory: GuestMemory) {
        var sets: [DirtyPageSet] = []
        var firstPages: [Int] = []
        var pages = 0
        for region in memory.regions {   // PhysicalRAM's order, so the numbering agrees
            region.hostWrites.start(.decodedCode)
            sets.append(region.hostWrites.pages(for: .decodedCode))
            firstPages.append(pages)
            pages += Int(region.range.size >> 12)
        }
        self.sets = sets
        self.firstPages = firstPages
    }

    /// A cheap poll (one relaxed load per region) for the interpreter loop; `invalidate` is exact.
    var mayHavePages: Bool {
        for set in sets where set.mayHavePages { return true }
        return false
    }

    /// Takes the written pages and drops the decoded code on them; returns how many pages were taken.
    @discardableResult
    func invalidate(in cache: DecodeCache) -> Int {
        var taken = 0
        for (index, set) in sets.enumerated() {
            let first = firstPages[index]
            taken += set.take { cache.codeWritten(page: first + $0) }
        }
        return taken
    }
}
