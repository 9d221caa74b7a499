#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CGuestAtomics

/// Per RAM page, whether decoded code from it may be cached by any vCPU of the machine, and its generation:
/// generation << 1 | 1 while it holds code. One table per machine, shared by every vCPU's DecodeCache (each keeps its
/// own entries), so a store by any vCPU to a page another vCPU decoded bumps the generation that vCPU's entries are
/// stamped with: cross-modifying code is seen at the other vCPU's next instruction from that page.
///
/// The hot path is one relaxed load per store (plain MOV): a page without code is left alone. Marking a page and
/// bumping it are atomic read-modify-writes (rare: a page's first decode after a bump, a store to a code page), so
/// generations only grow and a stale entry can never become valid again. States stay below `epochUnit` (each
/// DecodeCache keeps its epoch above them in one word); a page whose generations run out is `exhausted` and is never
/// cached again (after 2^39 invalidations of one page).
final class SharedCodePages: @unchecked Sendable {
    // @unchecked: the table is only touched through the atomic helpers below.
    let states: UnsafeMutablePointer<UInt64>
    /// One epoch step of the DecodeCaches using this table: the bit above the largest page state.
    let epochUnit: UInt64

    /// calloc: all-zero is "no code, generation 0", and untouched pages cost no RSS. `generationBits` (tests only)
    /// trades page generations for epochs: 39 leaves 24 bits of epoch.
    init(pageCount: Int, generationBits: Int = 39) {
        precondition((1...61).contains(generationBits), "the epoch needs at least two bits")
        epochUnit = 1 << UInt64(generationBits + 1)
        // calloc fails only when the host is out of memory while the VM is built: that ends the process, as a failed
        // Swift allocation does.
        guard let raw = calloc(max(pageCount, 1), MemoryLayout<UInt64>.stride) else { preconditionFailure("out of memory") }
        states = raw.bindMemory(to: UInt64.self, capacity: max(pageCount, 1))
    }

    deinit { free(states) }

    /// The table's page states as a raw pointer, which the interpreter's hot path uses (no reference counting).
    var table: CodePageStates { CodePageStates(states: states, exhausted: epochUnit - 1) }
}

/// Operations on SharedCodePages' table through its raw pointer; the table outlives every user (DecodeCache keeps
/// the SharedCodePages alive).
struct CodePageStates {
    let states: UnsafeMutablePointer<UInt64>
    /// The state of a page whose generations ran out: it holds code (stores keep trying to bump it) but no entry may
    /// be stamped with it.
    let exhausted: UInt64

    @inline(__always)
    func state(_ page: Int) -> UInt64 { shared_load_relaxed64(states + page) }

    /// Marks `page` as holding code; returns the state entries decoded from it now are stamped with, nil when the
    /// page may not be cached any more.
    @inline(__always)
    func markHoldsCode(_ page: Int) -> UInt64? {
        var state = self.state(page)
        if state & 1 == 0 { state = shared_fetch_or64(states + page, 1) | 1 }
        return state == exhausted ? nil : state
    }

    /// A store to `page`: if decoded code may be cached from it, a new generation (no code cached yet).
    @inline(__always)
    func written(_ page: Int) {
        var state = self.state(page)
        while state & 1 != 0 && state != exhausted {
            // (g << 1 | 1) + 1 = (g + 1) << 1; marking the last even state gives `exhausted`.
            let seen = guest_cmpxchg64(states + page, state, state &+ 1)
            if seen == state { return }
            state = seen
        }
    }
}
