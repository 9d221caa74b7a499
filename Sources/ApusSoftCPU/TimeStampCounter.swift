import Glibc

/// The soft CPU's TSC: host monotonic time scaled to the CPU model's frequency, plus the offset a TSC write sets.
///
/// It runs in real time (an invariant TSC, as every current CPU has), not in retired instructions: an
/// instruction-count TSC stands still while the vCPU halts and drifts against the PIT, so Linux's clocksource watchdog
/// rejects it and the kernel falls back to jiffies.
struct TimeStampCounter {
    let kilohertz: UInt64
    private var offset: UInt64 = 0

    init(kilohertz: UInt64) {
        self.kilohertz = min(max(kilohertz, 1), 100_000_000)   // 1 kHz to 100 GHz: the scaling cannot overflow
        offset = 0 &- ticks()
    }

    var value: UInt64 { ticks() &+ offset }

    /// WRMSR to IA32_TIME_STAMP_COUNTER (and a snapshot restore): the counter reads `newValue` now and runs on from it.
    mutating func set(_ newValue: UInt64) { offset = newValue &- ticks() }

    private func ticks() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nanoseconds = UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
        // nanoseconds * kHz / 10^6 without overflowing: the product needs up to 128 bits.
        let product = nanoseconds.multipliedFullWidth(by: kilohertz)
        return (1_000_000 as UInt64).dividingFullWidth((product.high, product.low)).quotient
    }
}
