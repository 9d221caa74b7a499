#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Decoded instructions, keyed by guest-physical address, so a loop's prefixes and opcode are decoded once.
///
/// An entry holds the instruction's first 16 bytes and its prefix state; the interpreter then fetches ModRM,
/// displacement and immediates from that copy instead of from memory. An entry is valid only while
///  - its page's state is unchanged: `codeWritten` bumps a page's generation, so its code is re-decoded from the next
///    instruction on. This CPU calls it on every store path (TLB host pointers, physical writes, page-walk A/D
///    updates), which keeps self-modifying code exact as x86 requires; and for every page the VMM, a device or a
///    loader wrote (HostWrittenCode, taken at each `run()`, before each external interrupt and every kick-check
///    batch), so a virtio exit costs the pages it wrote, not the whole cache;
///  - the epoch is unchanged: `flushAll` starts a new one when the VMM replaces the CPU's state (setRegisters,
///    setSpecialRegisters, restore) and on serializing instructions (CPUID, IRET, INVLPG, control register writes),
///    which is what cross-modifying code on x86 must execute before running modified code.
///
/// Both checks are one compare: an entry keeps `epoch | page state` (the epoch in the high bits, the page's state in
/// the low ones) in one word, so an entry is 64 bytes and the table is cache-line aligned: a lookup touches one line,
/// where 72-byte entries straddled two in seven of eight slots (perf on main's boot: 38% of `step`'s samples on the
/// tag compare, the table larger than this host's L2). When the epoch wraps the table is cleared (`flushAll`); a page
/// whose generations run out is never cached again (SharedCodePages).
///
/// Cross-modifying code (several vCPUs): the page states are one table per machine (SharedCodePages), bumped
/// atomically by whichever vCPU stores to a code page, while each vCPU keeps its own entries and epoch; so another
/// vCPU's store to a page this one decoded invalidates these entries before this vCPU runs them again. The one
/// window: a store concurrent with the very first decode of its page (marking happens after the bytes were read;
/// `decodeOpcode` and the revalidating `lookup` re-read them after marking and drop the entry if they changed, which
/// leaves only a store still in the writer's store buffer) — closed at this vCPU's next serializing instruction,
/// which is what x86 requires of cross-modifying code anyway.
struct DecodeCache {
    struct Entry {
        /// physical address << 4 | decoding mode, 0 when empty.
        var tag: UInt64 = 0
        /// The epoch and the page's state when the entry was made: `epoch | the page's state`.
        var validity: UInt64 = 0
        /// Bytes 0-7 and 8-15 of the instruction, little-endian.
        var low: UInt64 = 0
        var high: UInt64 = 0
        /// 0x00-0xFF, or 0x100 | second byte for the 0F map.
        var opcode: UInt16 = 0
        /// What the dispatch table resolved the instruction to when it was decoded.
        var handler = OpcodeHandler.none
        /// Bytes of prefixes and opcode.
        var opcodeLength: UInt8 = 0
        var operandSize: UInt8 = 0
        var addressSize: UInt8 = 0
        var rex: UInt8 = 0
        /// SegmentRegister raw value + 1, 0 without an override.
        var segment: UInt8 = 0
        var repeatPrefix: UInt8 = 0
        var operandSizePrefix = false
        /// LOCK, or XCHG with memory: executed as an atomic read-modify-write (CPUCore+Atomics).
        var lock = false
        /// The ModRM operand's form once decodeModRM has decoded it: it starts at byte formAt - 1 (formAt 0: none yet)
        /// and ends at formEnd.
        var formAt: UInt8 = 0
        var formEnd: UInt8 = 0
        var form = AddressForm(modrm: 0)
    }

    static let entries = 8192
    /// A cache line: an entry is exactly one (DecodeCacheLayoutTests), and the table starts on a line boundary.
    static let lineSize = 64
    private let slots: UnsafeMutablePointer<Entry>
    private let slotStorage: UnsafeMutableRawPointer
    /// Per RAM page: generation << 1 | 1 while decoded code from the page may be cached; shared by the machine's
    /// vCPUs, always below `epochUnit`.
    private let pages: CodePageStates
    /// Keeps the shared table alive as long as this cache.
    private let pagesOwner: SharedCodePages
    /// [0]: the epoch, a nonzero multiple of `epochUnit`; [1]: how many times `flushAll` ran.
    private let epochStorage: UnsafeMutablePointer<UInt64>
    /// One epoch step: the bit above the largest page state.
    private let epochUnit: UInt64

    /// The tables come from calloc: all-zero bytes are a valid empty state (a zero tag matches no instruction, as the
    /// mode is never 0), and the kernel backs untouched zero pages lazily, so an idle VM's RSS does not grow.
    init(pages: SharedCodePages) {
        self.pages = pages.table
        pagesOwner = pages
        epochUnit = pages.epochUnit
        // One entry more than the table, so the table can start on a line boundary inside the allocation.
        slotStorage = Self.zeroedBytes(count: (Self.entries + 1) * MemoryLayout<Entry>.stride)
        let aligned = (Int(bitPattern: slotStorage) + Self.lineSize - 1) & ~(Self.lineSize - 1)
        slots = UnsafeMutableRawPointer(bitPattern: aligned)!.bindMemory(to: Entry.self, capacity: Self.entries)
        epochStorage = .allocate(capacity: 2)
        epochStorage.initialize(to: epochUnit)
        epochStorage[1] = 0
    }

    /// A cache with a page table of its own (one vCPU; tests).
    init(pageCount: Int, generationBits: Int = 39) {
        self.init(pages: SharedCodePages(pageCount: pageCount, generationBits: generationBits))
    }

    private static func zeroedBytes(count: Int) -> UnsafeMutableRawPointer {
        // calloc fails only when the host is out of memory while the VM is built (sizes follow the VM's RAM, never
        // the guest's actions); that ends the process, as a failed Swift allocation does.
        guard let raw = calloc(count, 1) else { preconditionFailure("out of memory") }
        return raw
    }

    func deallocate() {
        free(slotStorage)
        epochStorage.deallocate()
    }

    @inline(__always)
    private func slot(_ physical: UInt64) -> UnsafeMutablePointer<Entry> {
        slots + Int((physical ^ (physical >> 13)) & UInt64(Self.entries - 1))
    }

    /// The valid entry for the instruction at `physical` (on RAM page `page`) decoded in `mode`, if any.
    @inline(__always)
    func lookup(_ physical: UInt64, page: Int, mode: UInt64) -> UnsafeMutablePointer<Entry>? {
        let entry = slot(physical)
        guard entry.pointee.tag == physical << 4 | mode,
              entry.pointee.validity == epochStorage.pointee | pages.state(page) else { return nil }
        return entry
    }

    /// The entry for the instruction at `physical` decoded in `mode`, as `lookup`, or one made before a flush or a
    /// write to its page when `code` (the instruction's 16 bytes in RAM now) still holds the bytes it was decoded
    /// from: a decode is a function of those bytes and the mode alone, so it is valid again (stamped anew). Most
    /// misses followed a flush (Linux's boot: ~140,000 flushes, 89 M misses in 693 M instructions).
    @inline(__always)
    func lookup(_ physical: UInt64, page: Int, mode: UInt64, code: UnsafeRawPointer) -> UnsafeMutablePointer<Entry>? {
        let entry = slot(physical)
        guard entry.pointee.tag == physical << 4 | mode else { return nil }
        let current = epochStorage.pointee | pages.state(page)
        if entry.pointee.validity == current { return entry }
        guard entry.pointee.low == UInt64(littleEndian: code.loadUnaligned(as: UInt64.self)),
              entry.pointee.high == UInt64(littleEndian: code.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
              let stamp = pages.markHoldsCode(page),   // a later write to the page must drop it again
              // Another vCPU may have stored between the compare and the marking (its store did not bump then).
              entry.pointee.low == UInt64(littleEndian: code.loadUnaligned(as: UInt64.self)),
              entry.pointee.high == UInt64(littleEndian: code.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        else { return nil }
        entry.pointee.validity = epochStorage.pointee | stamp
        return entry
    }

    /// Stores `entry` for the instruction at `physical` on RAM page `page` and marks the page as holding code; nil
    /// (nothing stored) when the page may no longer be cached.
    @inline(__always)
    @discardableResult
    func insert(_ entry: Entry, physical: UInt64, page: Int, mode: UInt64) -> UnsafeMutablePointer<Entry>? {
        guard let stamp = pages.markHoldsCode(page) else { return nil }
        let target = slot(physical)
        target.pointee = entry
        target.pointee.tag = physical << 4 | mode
        target.pointee.validity = epochStorage.pointee | stamp
        return target
    }

    /// Marks RAM page `page` as holding code and returns its state, nil when the page may no longer be cached: code
    /// translated from the page (TranslationTier) is valid while `state(page:)` and `epoch` still equal what they were
    /// when it was made.
    @inline(__always)
    func markHoldingCode(page: Int) -> UInt64? { pages.markHoldsCode(page) }

    @inline(__always)
    func state(page: Int) -> UInt64 { pages.state(page) }

    var epoch: UInt64 { @inline(__always) get { epochStorage.pointee } }

    /// A store to RAM page `page`: drops every entry decoded from it, in every vCPU's cache (one relaxed load when
    /// the page holds no code).
    @inline(__always)
    func codeWritten(page: Int) {
        pages.written(page)
    }

    /// Drops every entry.
    func flushAll() {
        epochStorage[1] &+= 1
        let next = epochStorage.pointee &+ epochUnit
        if next != 0 {
            epochStorage.pointee = next
        } else {
            // The epoch wrapped: entries made under the epochs about to repeat are cleared instead.
            memset(slots, 0, Self.entries * MemoryLayout<Entry>.stride)
            epochStorage.pointee = epochUnit
        }
    }

    /// How many times `flushAll` ran (tests: an unrelated host write must not flush).
    var flushCount: UInt64 { epochStorage[1] }

    /// Page `page`'s generation, and whether decoded code from it may be cached (tests).
    func pageState(_ page: Int) -> (generation: UInt64, holdsCode: Bool) {
        let state = pages.state(page)
        return (state >> 1, state & 1 != 0)
    }
}
