import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Socket activation (`apusd.socket`): systemd binds the socket and passes it to apusd as descriptor 3.
enum SocketActivation {
    /// systemd's first passed descriptor (sd_listen_fds(3)).
    static let firstDescriptor: Int32 = 3

    /// The descriptor systemd passed to this process, if any: LISTEN_PID names us and LISTEN_FDS is at least 1.
    static func inheritedDescriptor() -> Int32? {
        let environment = ProcessInfo.processInfo.environment
        guard let pid = environment["LISTEN_PID"].flatMap(Int32.init), pid == getpid(),
              let count = environment["LISTEN_FDS"].flatMap(Int.init), count >= 1 else { return nil }
        // Children must not mistake the descriptors for their own.
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")
        return firstDescriptor
    }
}
