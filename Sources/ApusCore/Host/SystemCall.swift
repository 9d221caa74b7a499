#if canImport(Glibc)
import Glibc
#endif

/// The one place that retries a system call a signal interrupted (EINTR). Every blocking read, write, open and
/// ioctl in Apus goes through it, so the retry policy cannot drift between hand-written loops.
public enum SystemCall {
    /// Calls `call` until it returns anything but -1 with errno EINTR; the result and errno of the last call are
    /// left for the caller to inspect.
    @inline(__always)
    public static func retryingInterrupts<Result: BinaryInteger>(_ call: () -> Result) -> Result {
        while true {
            let result = call()
            if result == -1 && errno == EINTR { continue }
            return result
        }
    }
}
