import Synchronization

/// A set of 4 KiB page numbers that any thread adds to and one reader takes from, without locks.
///
/// Two levels of bits: one per page, and a summary bit per 64-page word, so taking the set costs a look at the
/// summary (64 words per 16 GiB) plus the words that have something in them, however large the region. A `pending`
/// flag lets a reader that asks often (the software CPU, at every run) skip even that when nothing was added.
///
/// Ordering: a writer adds the pages after it wrote their bytes, and the reader takes them before it acts on them;
/// every step is a sequentially consistent atomic, so a page added while a take is under way is either in that take
/// or left, with `pending` set, for the next one — never lost.
public final class DirtyPageSet: @unchecked Sendable {
    // @unchecked: the bit words are only touched through the Atomic values they hold.
    public let pageCount: Int
    private let words: UnsafeMutablePointer<Atomic<UInt64>>
    private let wordCount: Int
    private let summary: UnsafeMutablePointer<Atomic<UInt64>>
    private let summaryCount: Int
    private let pending = Atomic<Bool>(false)

    public init(pageCount: Int) {
        self.pageCount = max(pageCount, 0)
        wordCount = (self.pageCount + 63) / 64
        summaryCount = (wordCount + 63) / 64
        words = Self.zeroed(max(wordCount, 1))
        summary = Self.zeroed(max(summaryCount, 1))
    }

    private static func zeroed(_ count: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        let pointer = UnsafeMutablePointer<Atomic<UInt64>>.allocate(capacity: count)
        for index in 0..<count { (pointer + index).initialize(to: Atomic(0)) }
        return pointer
    }

    deinit {
        words.deinitialize(count: max(wordCount, 1))
        words.deallocate()
        summary.deinitialize(count: max(summaryCount, 1))
        summary.deallocate()
    }

    /// Adds pages `first...last` (clamped to the set): one atomic OR per 64-page word touched, not per page.
    public func insert(first: Int, last: Int) {
        var page = max(first, 0)
        let end = min(last, pageCount - 1)
        guard page <= end else { return }
        while page <= end {
            let word = page >> 6
            let lastInWord = min(end, word << 6 | 63)
            let count = lastInWord - page + 1
            let mask = count == 64 ? UInt64.max : ((UInt64(1) << UInt64(count)) &- 1) << UInt64(page & 63)
            words[word].bitwiseOr(mask, ordering: .sequentiallyConsistent)
            summary[word >> 6].bitwiseOr(UInt64(1) << UInt64(word & 63), ordering: .sequentiallyConsistent)
            page = lastInWord + 1
        }
        // Most writes find the flag already set while the reader is busy elsewhere: no store to a shared line then.
        if !pending.load(ordering: .sequentiallyConsistent) { pending.store(true, ordering: .sequentiallyConsistent) }
    }

    public func insert(page: Int) { insert(first: page, last: page) }

    /// Whether pages may have been added since the last take. Relaxed: a hint for a polling reader, which may see a
    /// fresh addition one poll late; `take` itself never misses one.
    @inline(__always)
    public var mayHavePages: Bool { pending.load(ordering: .relaxed) }

    public func contains(page: Int) -> Bool {
        guard page >= 0 && page < pageCount else { return false }
        return words[page >> 6].load(ordering: .sequentiallyConsistent) & (UInt64(1) << UInt64(page & 63)) != 0
    }

    /// Removes every page in the set, calling `body` with each in ascending order; returns how many there were.
    @discardableResult
    public func take(_ body: (Int) -> Void) -> Int {
        guard pending.load(ordering: .sequentiallyConsistent) else { return 0 }
        pending.store(false, ordering: .sequentiallyConsistent)
        var taken = 0
        for group in 0..<summaryCount where summary[group].load(ordering: .sequentiallyConsistent) != 0 {
            var groupBits = summary[group].exchange(0, ordering: .sequentiallyConsistent)
            while groupBits != 0 {
                let word = group << 6 | groupBits.trailingZeroBitCount
                groupBits &= groupBits &- 1
                var pageBits = words[word].exchange(0, ordering: .sequentiallyConsistent)
                while pageBits != 0 {
                    body(word << 6 | pageBits.trailingZeroBitCount)
                    pageBits &= pageBits &- 1
                    taken += 1
                }
            }
        }
        return taken
    }

    /// Removes and returns every page in the set, in ascending order.
    public func takeAll() -> [Int] {
        var pages: [Int] = []
        take { pages.append($0) }
        return pages
    }
}
