import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A worker keeps only the descriptors it was meant to get: whatever else leaked through the spawn is closed.
///
/// Except the runtime's own: by the time the worker reads its start, libdispatch has made its epoll, eventfd and
/// timerfd descriptors; closing them let a later open (/dev/kvm, a vCPU) reuse the number under the dispatch manager
/// thread, which then crashed the worker (SIGILL in _dispatch_event_loop_drain, seen once in 80 worker starts under
/// bench/daemon). Such anonymous event descriptors give no access to any file, so one inherited would be harmless.
enum DescriptorHygiene {
    static let runtimeOwnKinds = ["anon_inode:[eventpoll]", "anon_inode:[eventfd]", "anon_inode:[timerfd]",
                                  "anon_inode:[signalfd]"]

    static func closeAll(except kept: [Int32]) {
        for descriptor in openDescriptors() where !kept.contains(descriptor) {
            let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(descriptor)")
            if let target, runtimeOwnKinds.contains(target) { continue }
            close(descriptor)
        }
    }

    /// Read before closing anything: closing while iterating /proc/self/fd would close the iterator's own one.
    static func openDescriptors() -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap(Int32.init).filter { fcntl($0, F_GETFD) >= 0 }
    }
}
