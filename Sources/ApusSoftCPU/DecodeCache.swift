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
/// tag compare, the table larger than this host's L2). When either field would overflow into the other, the table
/// starts over (see `flushAll`, `codeWritten`).
///
/// Cross-modifying code with a second vCPU (issue 14): today only this CPU's thread touches `pageStates`, and other
/// writers reach it through HostWriteLog. A second soft vCPU's stores go straight to RAM through its own TLB, so they
/// must reach this cache too: either each vCPU records its stores to code pages in a shared log this CPU takes at the
/// points above (it must then also take it before executing a serializing instruction's successor, the point x86
/// guarantees), or the page states become one table shared by all vCPUs and bumped atomically, each vCPU keeping its
/// own entries. Either way a page must be bumped after its bytes change and before the writer's synchronisation
/// (an IPI, a lock release the other CPU acquires) can be observed, or a stale entry may run once.
struct DecodeCache {
    struct Entry {
        /// physical address << 4 | decoding mode, 0 when empty.
        var tag: UInt64 = 0
        /// The epoch and the page's state when the entry was made: `epoch | pageStates[page]`.
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
    /// Per RAM page: generation << 1 | 1 while decoded code from the page may be cached. Always below `epochUnit`.
    private let pageStates: UnsafeMutablePointer<UInt64>
    private let pageCount: Int
    /// [0]: the epoch, a nonzero multiple of `epochUnit`; [1]: how many times `flushAll` ran.
    private let epochStorage: UnsafeMutablePointer<UInt64>
    /// One epoch step: the bit above the largest page state.
    private let epochUnit: UInt64

    /// The tables come from calloc: all-zero bytes are a valid empty state (a zero tag matches no instruction, as the
    /// mode is never 0), and the kernel backs untouched zero pages lazily, so an idle VM's RSS does not grow.
    /// `generationBits` (tests only) trades page generations for epochs: 39 leaves 24 bits of epoch.
    init(pageCount: Int, generationBits: Int = 39) {
        precondition((1...61).contains(generationBits), "the epoch needs at least two bits")
        self.pageCount = pageCount
        epochUnit = 1 << UInt64(generationBits + 1)
        // One entry more than the table, so the table can start on a line boundary inside the allocation.
        slotStorage = Self.zeroedBytes(count: (Self.entries + 1) * MemoryLayout<Entry>.stride)
        let aligned = (Int(bitPattern: slotStorage) + Self.lineSize - 1) & ~(Self.lineSize - 1)
        slots = UnsafeMutableRawPointer(bitPattern: aligned)!.bindMemory(to: Entry.self, capacity: Self.entries)
        pageStates = Self.zeroedBytes(count: max(pageCount, 1) * MemoryLayout<UInt64>.stride)
            .bindMemory(to: UInt64.self, capacity: max(pageCount, 1))
        epochStorage = .allocate(capacity: 2)
        epochStorage.initialize(to: epochUnit)
        epochStorage[1] = 0
    }

    private static func zeroedBytes(count: Int) -> UnsafeMutableRawPointer {
        // calloc fails only when the host is out of memory while the VM is built (sizes follow the VM's RAM, never
        // the guest's actions); that ends the process, as a failed Swift allocation does.
        guard let raw = calloc(count, 1) else { preconditionFailure("out of memory") }
        return raw
    }

    func deallocate() {
        free(slotStorage)
        free(pageStates)
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
              entry.pointee.validity == epochStorage.pointee | pageStates[page] else { return nil }
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
        let current = epochStorage.pointee | pageStates[page]
        if entry.pointee.validity == current { return entry }
        guard entry.pointee.low == UInt64(littleEndian: code.loadUnaligned(as: UInt64.self)),
              entry.pointee.high == UInt64(littleEndian: code.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        else { return nil }
        pageStates[page] |= 1   // a later write to the page must drop it again
        entry.pointee.validity = epochStorage.pointee | pageStates[page]
        return entry
    }

    /// Stores `entry` for the instruction at `physical` on RAM page `page` and marks the page as holding code.
    @inline(__always)
    @discardableResult
    func insert(_ entry: Entry, physical: UInt64, page: Int, mode: UInt64) -> UnsafeMutablePointer<Entry> {
        pageStates[page] |= 1
        let target = slot(physical)
        target.pointee = entry
        target.pointee.tag = physical << 4 | mode
        target.pointee.validity = epochStorage.pointee | pageStates[page]
        return target
    }

    /// A store to RAM page `page`: drops every entry decoded from it (one compare when the page holds no code).
    @inline(__always)
    func codeWritten(page: Int) {
        let state = pageStates[page]
        guard state & 1 != 0 else { return }
        let next = state &+ 1   // (g << 1 | 1) + 1 = (g + 1) << 1
        if next < epochUnit {
            pageStates[page] = next
        } else {
            // The generation would reach the epoch's bits: start this page over and drop every entry, whose
            // epoch no later entry shares.
            pageStates[page] = 0
            flushAll()
        }
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
        (pageStates[page] >> 1, pageStates[page] & 1 != 0)
    }
}
