import Synchronization

/// The RAM pages (PhysicalRAM's numbering) one vCPU stored to, for dirty-page tracking: one byte per page, set by every
/// store after its bytes are in place, taken and cleared by the tracker on another thread.
///
/// One map per vCPU, so vCPUs never write to one shared line (64 pages share a cache line; a shared map would bounce
/// it between cores on stores to neighbouring pages). A store marks unconditionally: testing the mark first would
/// need a store-load fence (x86 may let the load pass the store still in its buffer, and a take between the two would
/// then lose the write). The mark is a release store, which x86-64 makes a plain MOV: the optimiser may not move it
/// before the data store, and the hardware keeps stores in order, so a take that sees the mark also sees the data,
/// and one that does not leaves the mark for the next take.
final class GuestWrittenPages: @unchecked Sendable {
    // @unchecked: the marks are only touched through the Atomic values they hold.
    let pageCount: Int
    private let marks: UnsafeMutablePointer<Atomic<UInt8>>

    init(pageCount: Int) {
        self.pageCount = pageCount
        marks = .allocate(capacity: max(pageCount, 1))
        for page in 0..<max(pageCount, 1) { (marks + page).initialize(to: Atomic(0)) }
    }

    deinit {
        marks.deinitialize(count: max(pageCount, 1))
        marks.deallocate()
    }

    @inline(__always)
    func mark(_ page: Int) {
        marks[page].store(1, ordering: .releasing)
    }

    /// Clears every mark, calling `body` with each page that had one (ascending).
    func take(_ body: (Int) -> Void) {
        for page in 0..<pageCount where marks[page].load(ordering: .relaxed) != 0 {
            // The exchange, not the relaxed look, decides: it orders the caller's reads of the page after it.
            if marks[page].exchange(0, ordering: .acquiringAndReleasing) != 0 { body(page) }
        }
    }
}
