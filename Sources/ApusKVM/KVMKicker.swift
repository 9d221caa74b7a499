import ApusCore
import CKVM
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Kicks one vCPU out of KVM_RUN without races: set `immediate_exit`, then signal the vCPU's thread. If the thread is
/// inside KVM_RUN the signal makes it return EINTR; if it is about to enter, `immediate_exit` makes KVM return at once.
final class KVMKicker: VCPUKicker, @unchecked Sendable {
    // @unchecked: `run` and `thread` are only used under `lock`, and only while `alive` is true (the vCPU clears it
    // under the same lock before unmapping kvm_run and leaving its thread).
    private let lock = Mutex<Bool>(true)
    private let run: UnsafeMutablePointer<kvm_run>
    private let thread: pthread_t

    init(run: UnsafeMutablePointer<kvm_run>, thread: pthread_t) {
        self.run = run
        self.thread = thread
    }

    func kick() {
        lock.withLock { alive in
            guard alive else { return }
            ckvm_run_set_immediate_exit(run, 1)
            pthread_kill(thread, ckvm_kick_signal())
        }
    }

    /// Called by the vCPU before it goes away; later kicks do nothing.
    func retire() {
        lock.withLock { $0 = false }
    }
}

enum KickSignal {
    /// Installs the do-nothing handler once per process, before the first vCPU exists: nil on success, else errno.
    static let installFailure: Int32? = ckvm_install_kick_handler() == 0 ? nil : errno

    /// Prepares the calling thread (the vCPU's) to be kicked.
    static func prepareCurrentThread() throws {
        if let code = installFailure { throw KVMError.kickSignal(errno: code) }
        // pthread_sigmask returns the error number instead of setting errno.
        let code = ckvm_unblock_kick_signal()
        if code != 0 { throw KVMError.kickSignal(errno: code) }
    }
}
