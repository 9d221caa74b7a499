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
        /// The page's state when the entry was made (see `pageStates`).
        var stamp: UInt64 = 0
        var epoch: UInt64 = 0
        /// Bytes 0-7 and 8-15 of the instruction, little-endian.
        var low: UInt64 = 0
        var high: UInt64 = 0
        /// 0x00-0xFF, or 0x100 | second byte for the 0F map.
        var opcode: UInt16 = 0
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
    private let slots: UnsafeMutablePointer<Entry>
    /// Per RAM page: generation << 1 | 1 while decoded code from the page may be cached.
    private let pageStates: UnsafeMutablePointer<UInt64>
    private let pageCount: Int
    private let epochStorage: UnsafeMutablePointer<UInt64>

    /// The tables come from calloc: all-zero bytes are a valid empty state (a zero tag matches no instruction, as the
    /// mode is never 0), and the kernel backs untouched zero pages lazily, so an idle VM's RSS does not grow.
    init(pageCount: Int) {
        self.pageCount = pageCount
        slots = Self.zeroed(Entry.self, count: Self.entries)
        pageStates = Self.zeroed(UInt64.self, count: max(pageCount, 1))
        epochStorage = .allocate(capacity: 1)
        epochStorage.initialize(to: 1)
    }

    private static func zeroed<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        // calloc fails only when the host is out of memory while the VM is built (sizes follow the VM's RAM, never
        // the guest's actions); that ends the process, as a failed Swift allocation does.
        guard let raw = calloc(count, MemoryLayout<T>.stride) else { preconditionFailure("out of memory") }
        return raw.bindMemory(to: T.self, capacity: count)
    }

    func deallocate() {
        free(slots)
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
        guard entry.pointee.tag == physical << 4 | mode, entry.pointee.epoch == epochStorage.pointee,
              entry.pointee.stamp == pageStates[page] else { return nil }
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
        target.pointee.stamp = pageStates[page]
        target.pointee.epoch = epochStorage.pointee
        return target
    }

    /// Marks RAM page `page` as holding code and returns its state: code translated from the page (TranslationTier)
    /// is valid while `state(page:)` and `epoch` still equal what they were when it was made.
    @inline(__always)
    func markHoldingCode(page: Int) -> UInt64 {
        pageStates[page] |= 1
        return pageStates[page]
    }

    @inline(__always)
    func state(page: Int) -> UInt64 { pageStates[page] }

    var epoch: UInt64 { @inline(__always) get { epochStorage.pointee } }

    /// A store to RAM page `page`: drops every entry decoded from it (one compare when the page holds no code).
    @inline(__always)
    func codeWritten(page: Int) {
        let state = pageStates[page]
        if state & 1 != 0 { pageStates[page] = state &+ 1 }   // (g << 1 | 1) + 1 = (g + 1) << 1
    }

    /// Drops every entry.
    func flushAll() {
        epochStorage.pointee &+= 1
    }

    /// How many times `flushAll` ran (tests: an unrelated host write must not flush).
    var flushCount: UInt64 { epochStorage.pointee &- 1 }

    /// Page `page`'s generation, and whether decoded code from it may be cached (tests).
    func pageState(_ page: Int) -> (generation: UInt64, holdsCode: Bool) {
        (pageStates[page] >> 1, pageStates[page] & 1 != 0)
    }
}
