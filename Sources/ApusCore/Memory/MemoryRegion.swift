#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A contiguous block of guest-physical memory backed by an anonymous host mapping.
///
/// The host pointer is deliberately exposed (`hostBase`): backends map it into KVM or read it directly from the
/// software CPU. Everything else should go through `GuestMemory`'s bounds-checked accessors; code that writes through
/// `hostBase` itself (a snapshot restore) records what it wrote in `hostWrites`.
public final class MemoryRegion: @unchecked Sendable {
    // @unchecked: the mapping is immutable after init; concurrent access to guest bytes is the guest's business,
    // exactly as on hardware.
    public let range: GuestRange
    public let hostBase: UnsafeMutableRawPointer
    /// The pages written by anything but a vCPU (GuestMemory's write paths record them).
    public let hostWrites: HostWriteLog

    public init(start: GuestAddress, size: UInt64) throws {
        let range = GuestRange(start: start, size: size)
        guard size > 0, size % HostWriteLog.pageSize == 0 else {
            throw GuestMemoryError.invalidRegion(range, reason: "size must be a non-zero multiple of 4 KiB")
        }
        guard start.rawValue % HostWriteLog.pageSize == 0 else {
            throw GuestMemoryError.invalidRegion(range, reason: "start must be 4 KiB aligned")
        }
        guard start.adding(size) != nil else {
            throw GuestMemoryError.invalidRegion(range, reason: "wraps around the address space")
        }
        // One inaccessible guard page follows the guest's RAM: a host-side overrun faults instead of touching a
        // neighbour, and no two guests' mappings merge into one VMA (so /proc/PID/smaps shows each guest's RAM).
        let mapped = mmap(nil, Int(size) + Self.guardSize, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw GuestMemoryError.allocationFailed(size: size, errno: errno)
        }
        guard mprotect(mapped + Int(size), Self.guardSize, PROT_NONE) == 0 else {
            let code = errno
            munmap(mapped, Int(size) + Self.guardSize)
            throw GuestMemoryError.allocationFailed(size: size, errno: code)
        }
        self.range = range
        self.hostBase = mapped
        self.hostWrites = HostWriteLog(pageCount: Int(size / HostWriteLog.pageSize))
    }

    static let guardSize = Int(HostWriteLog.pageSize)

    deinit {
        munmap(hostBase, Int(range.size) + Self.guardSize)
    }

    /// Offset of `address` inside this region if `[address, address + length)` lies entirely within it.
    @inline(__always)
    public func offset(of address: GuestAddress, length: Int) -> UInt64? {
        let start = range.start.rawValue
        guard address.rawValue >= start, length >= 0 else { return nil }
        let offset = address.rawValue - start
        guard offset <= range.size, UInt64(length) <= range.size - offset else { return nil }
        return offset
    }
}
