/// A direct-mapped software TLB: linear page -> guest-physical page, one table per access kind, so a hit skips the
/// four-level walk. Like a hardware TLB it is flushed on CR3, CR0 and CR4 writes and by INVLPG; entries are made only
/// after a walk that set the Accessed (and, for writes, Dirty) bit, so hits never need to touch the page tables.
struct SoftTLB {
    static let entries = 512
    /// (linear page number << 1 | user) + 1, 0 when empty; by access kind: read, write, fetch.
    private let tags: UnsafeMutablePointer<UInt64>
    private let frames: UnsafeMutablePointer<UInt64>
    /// The host address of the page when it is RAM (nil for MMIO), so hits skip the region lookup too.
    private let hosts: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    /// The RAM page number (PhysicalRAM) of the page when it is RAM, so stores can tell the decode cache cheaply.
    private let pages: UnsafeMutablePointer<Int>

    init() {
        tags = .allocate(capacity: Self.entries * 3)
        tags.initialize(repeating: 0, count: Self.entries * 3)
        frames = .allocate(capacity: Self.entries * 3)
        frames.initialize(repeating: 0, count: Self.entries * 3)
        hosts = .allocate(capacity: Self.entries * 3)
        hosts.initialize(repeating: nil, count: Self.entries * 3)
        pages = .allocate(capacity: Self.entries * 3)
        pages.initialize(repeating: 0, count: Self.entries * 3)
    }

    func deallocate() {
        tags.deallocate()
        frames.deallocate()
        hosts.deallocate()
        pages.deallocate()
    }

    @inline(__always)
    private func slot(_ page: UInt64, kind: Int) -> Int { kind * Self.entries + Int(page & UInt64(Self.entries - 1)) }

    @inline(__always)
    func lookup(_ linear: UInt64, kind: Int, user: Bool) -> UInt64? {
        let page = linear >> 12
        let index = slot(page, kind: kind)
        guard tags[index] == (page << 1 | (user ? 1 : 0)) &+ 1 else { return nil }
        return frames[index] | (linear & 0xFFF)
    }

    /// The host address of `linear` when its page is cached and is RAM.
    @inline(__always)
    func host(_ linear: UInt64, kind: Int, user: Bool) -> UnsafeMutableRawPointer? {
        let page = linear >> 12
        let index = slot(page, kind: kind)
        guard tags[index] == (page << 1 | (user ? 1 : 0)) &+ 1, let base = hosts[index] else { return nil }
        return base + Int(linear & 0xFFF)
    }

    /// For stores: the host address of `linear` and its RAM page number, when its page is cached and is RAM.
    @inline(__always)
    func writeHost(_ linear: UInt64, user: Bool) -> (host: UnsafeMutableRawPointer, page: Int)? {
        let page = linear >> 12
        let index = slot(page, kind: 1)
        guard tags[index] == (page << 1 | (user ? 1 : 0)) &+ 1, let base = hosts[index] else { return nil }
        return (base + Int(linear & 0xFFF), pages[index])
    }

    /// `ram` is the host address of the physical page and its RAM page number, nil for MMIO.
    @inline(__always)
    func insert(_ linear: UInt64, physical: UInt64, ram: (host: UnsafeMutableRawPointer, page: Int)?, kind: Int,
                user: Bool) {
        let page = linear >> 12
        let index = slot(page, kind: kind)
        tags[index] = (page << 1 | (user ? 1 : 0)) &+ 1
        frames[index] = physical & ~0xFFF
        hosts[index] = ram?.host
        pages[index] = ram?.page ?? 0
    }

    func flush() {
        tags.update(repeating: 0, count: Self.entries * 3)
    }

    /// INVLPG: drops the page from every table.
    func flush(page linear: UInt64) {
        for kind in 0..<3 { tags[slot(linear >> 12, kind: kind)] = 0 }
    }
}
