import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where a halted software vCPU sleeps until an interrupt request or a kick: a pthread condition variable (this
/// module stays free of Foundation), and an atomic "INTR may be high" hint the interpreter checks between
/// instructions at the cost of one relaxed load.
final class HaltWaker: @unchecked Sendable {
    // @unchecked: the pthread objects are used only through their own locking functions.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Set when the interrupt controller's output rises; cleared by the vCPU once nothing is pending.
    let interruptHint = Atomic<Bool>(false)
    private var signals: UInt64 = 0

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    /// An interrupt request (`interrupt: true`) or a kick: wakes a sleeping vCPU.
    func wake(interrupt: Bool) {
        if interrupt { interruptHint.store(true, ordering: .releasing) }
        pthread_mutex_lock(mutex)
        signals &+= 1
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// A snapshot to wait on: waking after it was taken is never missed.
    func ticket() -> UInt64 {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return signals
    }

    /// Sleeps until `wake` is called after `ticket` was taken, or `nanoseconds` pass.
    func sleep(after ticket: UInt64, nanoseconds delay: UInt64) {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        let nanoseconds = deadline.tv_nsec + Int(min(delay, 1_000_000_000))
        deadline.tv_sec += nanoseconds / 1_000_000_000
        deadline.tv_nsec = nanoseconds % 1_000_000_000
        pthread_mutex_lock(mutex)
        while signals == ticket {
            if pthread_cond_timedwait(condition, mutex, &deadline) == ETIMEDOUT { break }
        }
        pthread_mutex_unlock(mutex)
    }
}
