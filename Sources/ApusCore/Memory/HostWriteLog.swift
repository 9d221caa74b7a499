import Synchronization

/// Which 4 KiB pages of one memory region something other than a vCPU wrote: the VMM, a device, a loader, a
/// snapshot restore. The vCPUs' own stores are not here: KVM logs those itself (KVMMachine+DirtyLog), and the software
/// CPU sees its own stores as it makes them.
///
/// Each party that wants to know has its own set (`Reader`), so one taking its pages never hides them from another:
/// the software CPU takes its set at every entry to drop the decoded code of the pages a device wrote; live migration
/// (issue 16) takes its set each round and merges it with the backend's log of guest writes. A set records only
/// after its reader starts it (`start`), so a machine nobody reads pays one relaxed load per write.
public final class HostWriteLog: Sendable {
    public static let pageSize: UInt64 = 4096

    public enum Reader: Int, CaseIterable, Sendable {
        /// The software CPU's decode cache (code the VMM or a device overwrote must be decoded afresh).
        case decodedCode
        /// Dirty-page tracking for snapshots and migration.
        case migration
    }

    public let pageCount: Int
    private let sets: [DirtyPageSet]
    /// Bit `reader.rawValue` set once that reader started.
    private let started = Atomic<UInt8>(0)

    public init(pageCount: Int) {
        self.pageCount = pageCount
        sets = Reader.allCases.map { _ in DirtyPageSet(pageCount: pageCount) }
    }

    /// From now on, writes are recorded for `reader` (earlier ones are not: a reader starts from a known state, such
    /// as an empty decode cache or a full first copy of memory).
    public func start(_ reader: Reader) {
        started.bitwiseOr(UInt8(1) << UInt8(reader.rawValue), ordering: .sequentiallyConsistent)
    }

    /// The set `reader` takes its pages from.
    public func pages(for reader: Reader) -> DirtyPageSet { sets[reader.rawValue] }

    /// Bytes `[offset, offset + length)` of the region were written; call after the bytes are in place.
    public func record(offset: UInt64, length: Int) {
        guard length > 0 else { return }
        let first = Int(offset / Self.pageSize)
        let last = Int((offset + UInt64(length) - 1) / Self.pageSize)
        let readers = started.load(ordering: .relaxed)
        guard readers != 0 else { return }
        for reader in Reader.allCases where readers & (UInt8(1) << UInt8(reader.rawValue)) != 0 {
            sets[reader.rawValue].insert(first: first, last: last)
        }
    }
}
