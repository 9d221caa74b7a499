import Synchronization

/// One bit per 4 KiB page, set when the VMM (a device, a loader) writes guest memory.
/// KVM tracks the guest's own writes in its dirty log; this bitmap covers the writes KVM never sees,
/// so snapshot and migration code merges both.
public final class DirtyBitmap: Sendable {
    public static let pageSize: UInt64 = 4096
    // A lock rather than per-word atomics: VMM-side writes (loaders, devices) are rare next to guest writes.
    private let words: Mutex<[UInt64]>
    public let pageCount: Int

    public init(pageCount: Int) {
        self.pageCount = pageCount
        self.words = Mutex([UInt64](repeating: 0, count: (pageCount + 63) / 64))
    }

    public func markDirty(page: Int) {
        guard page >= 0 && page < pageCount else { return }
        words.withLock { $0[page / 64] |= UInt64(1) << UInt64(page % 64) }
    }

    public func markDirty(offset: UInt64, length: Int) {
        guard length > 0 else { return }
        let first = Int(offset / Self.pageSize)
        let last = min(Int((offset + UInt64(length) - 1) / Self.pageSize), pageCount - 1)
        guard first <= last else { return }
        words.withLock { words in
            for page in first...last { words[page / 64] |= UInt64(1) << UInt64(page % 64) }
        }
    }

    public func isDirty(page: Int) -> Bool {
        guard page >= 0 && page < pageCount else { return false }
        return words.withLock { $0[page / 64] } & (UInt64(1) << UInt64(page % 64)) != 0
    }

    /// Returns the dirty pages and clears them atomically, so a concurrent writer is never lost.
    public func takeDirtyPages() -> [Int] {
        let taken = words.withLock { words in
            let copy = words
            for index in words.indices { words[index] = 0 }
            return copy
        }
        var pages: [Int] = []
        for (index, word) in taken.enumerated() {
            var bits = word
            while bits != 0 {
                let bit = bits.trailingZeroBitCount
                pages.append(index * 64 + bit)
                bits &= bits - 1
            }
        }
        return pages
    }
}
