public import ApusCore

/// Dirty-page tracking on the software CPU: each vCPU marks the pages it stores to (GuestWrittenPages); a take joins
/// the vCPUs' marks. Marking is always on — one byte store per guest store — so starting needs no word with the
/// running vCPUs: it only clears what is marked.
extension SoftMachine: GuestWriteTracking {
    public var guestWriteTracking: (any GuestWriteTracking)? { self }

    public func startTrackingGuestWrites() throws {
        trackingWrites.withLock { $0 = true }
        for map in writtenPageMaps.withLock({ Array($0.values) }) { map.take { _ in } }
    }

    public func takeGuestWrittenPages() throws -> [UInt64] {
        guard trackingWrites.withLock({ $0 }) else {
            throw SoftCPUError.unsupported("taking written pages before dirty-page tracking was started")
        }
        let ram = PhysicalRAM(memory)
        defer { ram.deallocate() }
        var written = [Bool](repeating: false, count: ram.pageCount)
        for map in writtenPageMaps.withLock({ Array($0.values) }) { map.take { written[$0] = true } }
        var pages: [UInt64] = []
        for (page, isWritten) in written.enumerated() where isWritten { pages.append(ram.physicalPageNumber(page)) }
        return pages
    }

    public func stopTrackingGuestWrites() throws {
        trackingWrites.withLock { $0 = false }
    }

    /// vCPU `index`'s map, made on first use and kept when the vCPU is made again (a restore, a reboot), so marks
    /// made by the vCPU it replaces are not lost.
    func writtenPages(forVCPU index: Int) -> GuestWrittenPages {
        writtenPageMaps.withLock { maps in
            if let map = maps[index] { return map }
            let map = GuestWrittenPages(pageCount: PhysicalRAM.pageCount(of: memory))
            maps[index] = map
            return map
        }
    }
}
