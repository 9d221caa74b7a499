/// The translation tier of one vCPU: a code cache of translated blocks keyed by guest-physical address, which
/// `SoftVCPU.run` asks at each instruction boundary before the interpreter.
///
/// An entry is valid while its page's decode-cache state and the decode cache's epoch are what they were when it
/// was translated: the same stores, host writes and serializing instructions that drop decoded instructions drop
/// translations (self- and cross-modifying code), and the interpreter then runs the new bytes. A block is made only
/// for code that ran `hotThreshold` times; an address whose first instruction is outside the subset is remembered as
/// such, so the interpreter path costs one table probe there.
final class TranslationTier {
    struct Entry {
        /// physical address << 4 | decoding mode (8: 64-bit), 0 when empty.
        var tag: UInt64 = 0
        /// The linear RIP it was translated at: branch targets in the code are absolute.
        var rip: UInt64 = 0
        var stamp: UInt64 = 0
        var epoch: UInt64 = 0
        /// Which fill of the code memory the code pointer belongs to.
        var generation: UInt64 = 0
        var heat: UInt32 = 0
        var instructions: UInt32 = 0
        var code: UnsafeRawPointer?
    }

    typealias Block = @convention(c) (UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt64>) -> UInt64

    static let entryCount = 4096
    static let hotThreshold: UInt32 = 16
    /// Marks an address whose first instruction is not translatable (until its page or the epoch changes).
    static let untranslatable = UInt32.max

    private let code: CodeMemory
    private let entries: UnsafeMutablePointer<Entry>
    private var generation: UInt64 = 1
    /// RFLAGS handed to and taken back from a block.
    private let flags: UnsafeMutablePointer<UInt64>

    /// Guest instructions run in translated blocks, and blocks translated (statistics, the benchmark's report).
    private(set) var translatedInstructions: UInt64 = 0
    private(set) var blocksTranslated: UInt64 = 0

    /// Throws `CodeMemory.Refusal` when the host does not let this process run code it wrote.
    init(codeCapacity: Int = 16 << 20) throws {
        code = try CodeMemory(capacity: codeCapacity)
        entries = .allocate(capacity: Self.entryCount)
        entries.initialize(repeating: Entry(), count: Self.entryCount)
        flags = .allocate(capacity: 1)
        flags.initialize(to: 0)
    }

    deinit {
        entries.deallocate()
        flags.deallocate()
    }

    /// Where translated code lives (tests read its permissions).
    var codeRegion: (start: UnsafeRawPointer, length: Int) { (UnsafeRawPointer(code.base), code.capacity) }

    /// Tests: called while translated code is writable.
    var whileWritable: ((UnsafeRawPointer, Int) -> Void)? {
        get { code.whileWritable }
        set { code.whileWritable = newValue }
    }

    /// Runs the translated block at the core's RIP if there is one (translating it now if it just became hot).
    /// Returns how many guest instructions it ran, 0 when the interpreter must run the next instruction.
    @inline(__always)
    func run(_ core: CPUCore) -> Int {
        guard core.is64BitCode, core.flagBits & Flag.tf == 0, core.suppliedRead == nil else { return 0 }
        let address = core.rip
        if address >> 12 != core.fetchPage { core.cacheFetchPage(address) }
        guard address >> 12 == core.fetchPage, let host = core.fetchHost else { return 0 }
        let physical = core.fetchPhysical | (address & 0xFFF)
        let page = core.fetchRAMPage
        let entry = entries + Int((physical ^ (physical >> 12)) & UInt64(Self.entryCount - 1))
        let tag = physical << 4 | 8
        if entry.pointee.tag != tag || entry.pointee.rip != address || entry.pointee.stamp != core.decoded.state(page: page)
            || entry.pointee.epoch != core.decoded.epoch || entry.pointee.generation != generation {
            entry.pointee = Entry(tag: tag, rip: address, stamp: core.decoded.state(page: page),
                                  epoch: core.decoded.epoch, generation: generation, heat: 1)
            return 0
        }
        guard let block = entry.pointee.code else {
            let heat = entry.pointee.heat
            if heat == Self.untranslatable { return 0 }
            if heat < Self.hotThreshold {
                entry.pointee.heat = heat + 1
                return 0
            }
            return translate(entry, core: core, host: host, page: page) ? execute(entry, core) : 0
        }
        _ = block
        return execute(entry, core)
    }

    @inline(__always)
    private func execute(_ entry: UnsafeMutablePointer<Entry>, _ core: CPUCore) -> Int {
        flags.pointee = core.rflags
        let block = unsafeBitCast(entry.pointee.code!, to: Block.self)
        core.rip = block(core.gpr, flags)
        core.rflags = flags.pointee
        let count = Int(entry.pointee.instructions)
        core.instructions &+= UInt64(count)
        translatedInstructions &+= UInt64(count)
        return count
    }

    private func translate(_ entry: UnsafeMutablePointer<Entry>, core: CPUCore, host: UnsafeMutableRawPointer,
                           page: Int) -> Bool {
        // Marked before reading the bytes: a later store to the page bumps its state past this stamp.
        guard let stamp = core.decoded.markHoldingCode(page: page) else {
            entry.pointee.heat = Self.untranslatable   // the page's generations ran out (SharedCodePages)
            return false
        }
        let offset = Int(core.rip & 0xFFF)
        let decoder = GuestBlockDecoder(bytes: UnsafeRawPointer(host), available: CodeMemory.pageSize)
        guard let translation = BlockTranslator.translate(decoder, offset: offset, rip: core.rip) else {
            entry.pointee.heat = Self.untranslatable
            entry.pointee.stamp = stamp
            return false
        }
        let start: UnsafeRawPointer
        do {
            if let placed = try code.install(translation.code) {
                start = placed
            } else {
                // Full: every block goes, and the cache refills with what is hot now.
                code.reset()
                generation &+= 1
                guard let placed = try code.install(translation.code) else { return false }
                start = placed
            }
        } catch {
            // Refused after the probe succeeded (a policy changed under us): this address stays interpreted.
            entry.pointee.heat = Self.untranslatable
            return false
        }
        blocksTranslated &+= 1
        entry.pointee = Entry(tag: entry.pointee.tag, rip: core.rip, stamp: stamp, epoch: core.decoded.epoch,
                              generation: generation, heat: Self.hotThreshold, instructions: UInt32(translation.instructions),
                              code: start)
        return true
    }
}

extension TranslationTier {
    /// The tier for `tier`, or nil for the interpreter, also when the host refuses executable memory: then the vCPU
    /// says why once, through the machine's diagnostics, and interprets.
    static func make(_ tier: SoftCPUTier, vcpu: Int, diagnostics: (@Sendable (String) -> Void)?) -> TranslationTier? {
        guard tier == .translate else { return nil }
        do {
            return try TranslationTier()
        } catch {
            diagnostics?("soft CPU vCPU \(vcpu): translation tier unavailable, running the interpreter: \(error)")
            return nil
        }
    }
}
