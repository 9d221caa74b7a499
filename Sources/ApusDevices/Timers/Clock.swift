#if canImport(Glibc)
import Glibc
#endif

/// Where timer devices read time, in nanoseconds; tests use a settable clock so nothing depends on the host's speed.
public protocol DeviceClock: Sendable {
    func nanoseconds() -> UInt64
}

/// CLOCK_MONOTONIC.
public struct MonotonicClock: DeviceClock {
    public init() {}
    public func nanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}
