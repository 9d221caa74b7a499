import ApusCore

/// Where the initrd goes: page-aligned, as high as possible, but below 4 GiB, within the kernel's initrd_addr_max
/// (the highest byte it may occupy) and above everything the kernel uses while it starts.
enum InitrdPlacement {
    static func address(size: UInt64, kernelEnd: UInt64, addressMax: UInt32, memory: GuestMemory) throws -> UInt64 {
        let page: UInt64 = 0x1000
        let ceiling = min(UInt64(addressMax) + 1, 1 << 32)
        let floor = alignUp(max(kernelEnd, LowMemory.reservedEnd), page)
        var room: UInt64 = 0
        // The highest region first: the initrd must lie inside one region.
        for region in memory.regions.map(\.range).sorted(by: { $0.start > $1.start }) {
            let bottom = max(region.start.rawValue, floor)
            let top = min(region.end, ceiling)
            guard top > bottom else { continue }
            room = max(room, top - bottom)
            guard size <= top - bottom else { continue }
            let address = (top - size) & ~(page - 1)
            if address >= bottom { return address }
        }
        throw BootError.initrdTooLarge(size: Int(clamping: size), room: room)
    }

    static func alignUp(_ value: UInt64, _ alignment: UInt64) -> UInt64 {
        let (sum, overflow) = value.addingReportingOverflow(alignment - 1)
        return overflow ? .max & ~(alignment - 1) : sum & ~(alignment - 1)
    }
}
