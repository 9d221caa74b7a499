public import ApusCore

/// One entry of the BIOS-style memory map Linux reads from the zero page.
public struct E820Entry: Equatable, Sendable {
    public var address: UInt64
    public var size: UInt64
    public var type: UInt32

    /// The PC map over guest RAM: conventional memory below 0x9FC00 usable, the EBDA and ROM hole up to 1 MiB
    /// reserved (the loader's own tables live below 0x10000 but are dead once the kernel runs), RAM from 1 MiB up
    /// usable.
    public static func map(for memory: GuestMemory) -> [E820Entry] {
        let regions = memory.regions.map(\.range)
        var low: [E820Entry] = [], high: [E820Entry] = []
        for range in regions {
            let start = range.start.rawValue, end = range.end
            if start < LowMemory.conventionalMemoryEnd {
                low.append(E820Entry(address: start, size: min(end, LowMemory.conventionalMemoryEnd) - start,
                                     type: ZeroPage.e820RAM))
            }
            if end > LowMemory.reservedEnd {
                let highStart = max(start, LowMemory.reservedEnd)
                high.append(E820Entry(address: highStart, size: end - highStart, type: ZeroPage.e820RAM))
            }
        }
        let hole = E820Entry(address: LowMemory.conventionalMemoryEnd,
                             size: LowMemory.reservedEnd - LowMemory.conventionalMemoryEnd, type: ZeroPage.e820Reserved)
        return low + [hole] + high
    }
}
