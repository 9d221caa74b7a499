import ApusCore

/// Guest RAM as plain pointers, for the interpreter's hot path: `GuestMemory.region(containing:)` hands back a class
/// reference, and the retain and release it costs showed on top of page walks in perf. The regions never change after
/// the machine is built, so a copy of their bounds is enough.
///
/// Every 4 KiB page of RAM also gets a number (`page`), which indexes the decoded-code bookkeeping (DecodeCache).
struct PhysicalRAM {
    let count: Int
    /// Pages of RAM in all regions together.
    let pageCount: Int
    private let starts: UnsafeMutablePointer<UInt64>
    private let sizes: UnsafeMutablePointer<UInt64>
    private let hosts: UnsafeMutablePointer<UnsafeMutableRawPointer>
    private let firstPages: UnsafeMutablePointer<Int>

    init(_ memory: GuestMemory) {
        let regions = memory.regions
        count = regions.count
        starts = .allocate(capacity: max(count, 1))
        sizes = .allocate(capacity: max(count, 1))
        hosts = .allocate(capacity: max(count, 1))
        firstPages = .allocate(capacity: max(count, 1))
        var pages = 0
        for (index, region) in regions.enumerated() {
            starts[index] = region.range.start.rawValue
            sizes[index] = region.range.size
            hosts[index] = region.hostBase
            firstPages[index] = pages
            pages += Int(region.range.size >> 12)   // regions are whole pages (MemoryRegion checks)
        }
        pageCount = pages
    }

    /// How many RAM pages `memory` has, numbered as here.
    static func pageCount(of memory: GuestMemory) -> Int {
        memory.regions.reduce(0) { $0 + Int($1.range.size >> 12) }
    }

    /// The guest-physical page number (address >> 12) of RAM page `page`.
    func physicalPageNumber(_ page: Int) -> UInt64 {
        var index = count - 1
        while index > 0 && firstPages[index] > page { index -= 1 }
        return (starts[index] >> 12) + UInt64(page - firstPages[index])
    }

    func deallocate() {
        starts.deallocate()
        sizes.deallocate()
        hosts.deallocate()
        firstPages.deallocate()
    }

    /// The host address of `address` and the number of its RAM page, when `[address, address + length)` lies in RAM.
    @inline(__always)
    func locate(_ address: UInt64, length: Int) -> (host: UnsafeMutableRawPointer, page: Int)? {
        for index in 0..<count {
            let offset = address &- starts[index]
            if offset < sizes[index] && sizes[index] - offset >= UInt64(length) {
                return (hosts[index] + Int(offset), firstPages[index] + Int(offset >> 12))
            }
        }
        return nil
    }
}
