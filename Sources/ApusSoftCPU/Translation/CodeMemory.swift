#if canImport(Glibc)
import Glibc
#endif

/// Host memory for translated code, writable or executable and never both (W^X).
///
/// The region is reserved inaccessible; installing code makes the pages it lands on readable and writable, copies
/// it, and makes them readable and executable again before anything can run from them. A page that already holds
/// earlier blocks is therefore briefly not executable, which is harmless: only this vCPU's thread runs them.
/// A host that refuses executable mappings (systemd's MemoryDenyWriteExecute, an SELinux policy, PR_SET_MDWE) is
/// found at creation, by installing and calling a one-byte function: `init` throws with the reason.
final class CodeMemory {
    enum Refusal: Error, CustomStringConvertible {
        case refused(String)
        var description: String { if case .refused(let text) = self { return text }; return "" }
    }

    static let pageSize = 4096
    let base: UnsafeMutableRawPointer
    let capacity: Int
    private(set) var used = 0
    /// Called while the pages being written are writable (tests look at /proc/self/maps then).
    var whileWritable: ((UnsafeRawPointer, Int) -> Void)?

    init(capacity: Int = 16 << 20) throws {
        self.capacity = (capacity + Self.pageSize - 1) & ~(Self.pageSize - 1)
        guard let mapped = mmap(nil, self.capacity, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapped != MAP_FAILED else {
            throw Refusal.refused("mmap of \(capacity) bytes for translated code failed: errno \(errno)")
        }
        base = mapped
        do {
            // RET: proves the host lets this process execute code it wrote.
            let probe = try install([0xC3])
            typealias Probe = @convention(c) () -> Void
            unsafeBitCast(probe, to: Probe.self)()
            reset()
        } catch {
            munmap(base, self.capacity)
            throw error
        }
    }

    deinit { munmap(base, capacity) }

    /// Copies `code` in (16-byte aligned) and returns where it starts, executable; nil when the region is full.
    func install(_ code: [UInt8]) throws -> UnsafeRawPointer? {
        let start = (used + 15) & ~15
        guard start + code.count <= capacity, !code.isEmpty else { return nil }
        let firstPage = start & ~(Self.pageSize - 1)
        let end = (start + code.count + Self.pageSize - 1) & ~(Self.pageSize - 1)
        let pages = base + firstPage
        guard mprotect(pages, end - firstPage, PROT_READ | PROT_WRITE) == 0 else {
            throw Refusal.refused("mprotect(PROT_READ|PROT_WRITE) on translated code failed: errno \(errno)")
        }
        code.withUnsafeBytes { (base + start).copyMemory(from: $0.baseAddress!, byteCount: code.count) }
        whileWritable?(UnsafeRawPointer(pages), end - firstPage)
        guard mprotect(pages, end - firstPage, PROT_READ | PROT_EXEC) == 0 else {
            let reason = errno
            _ = mprotect(pages, end - firstPage, PROT_NONE)
            throw Refusal.refused("the host refuses executable memory (mprotect PROT_EXEC: errno \(reason), "
                                  + "e.g. MemoryDenyWriteExecute or an SELinux policy)")
        }
        used = start + code.count
        return UnsafeRawPointer(base + start)
    }

    /// Forgets every installed block (the caller drops its references first) and makes the region inaccessible.
    func reset() {
        _ = mprotect(base, capacity, PROT_NONE)
        used = 0
    }
}
