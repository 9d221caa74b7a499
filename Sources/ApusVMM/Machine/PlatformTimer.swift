import ApusDevices
import Foundation

/// The thread that makes the 8254 tick: it sleeps until channel 0's next deadline and pulses IRQ 0, and recomputes
/// the deadline whenever the guest reprograms the counter. It runs from `start()` until the machine's run ends.
final class PlatformTimer: @unchecked Sendable {
    // @unchecked: `pit` is set once before `start`; `stopped` and `generation` are guarded by `condition`.
    private let condition = NSCondition()
    private var stopped = false
    private var generation = 0
    private var pit: PIT8254?
    /// Never sleep longer than this, so a stop is noticed even without a poke.
    static let longestSleep: TimeInterval = 0.05

    func attach(_ pit: PIT8254) { self.pit = pit }

    /// The counter changed: wake up and look at the new deadline.
    func poke() {
        condition.withLock {
            generation += 1
            condition.signal()
        }
    }

    func start() {
        guard let pit else { return }
        let thread = Thread { [self] in run(pit) }
        thread.name = "apus-pit"
        thread.start()
    }

    func stop() {
        condition.withLock {
            stopped = true
            condition.signal()
        }
    }

    private func run(_ pit: PIT8254) {
        let clock = MonotonicClock()
        while true {
            pit.deliverDueInterrupts()
            let deadline = pit.nextInterrupt()
            condition.lock()
            defer { condition.unlock() }
            if stopped { return }
            let seen = generation
            var sleep = Self.longestSleep
            if let deadline {
                let now = clock.nanoseconds()
                sleep = deadline > now ? min(sleep, Double(deadline - now) / 1e9) : 0
            }
            if sleep > 0 && generation == seen {
                _ = condition.wait(until: Date().addingTimeInterval(sleep))
            }
            if stopped { return }
        }
    }
}
