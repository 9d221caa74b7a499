import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An exclusive, non-blocking `flock` held for the daemon's lifetime, so a second apusd on the same state directory
/// or socket refuses to start instead of taking over (Hummingbird replaces an existing socket file when it binds).
/// The kernel drops the lock when the process dies, even after `kill -9`, so a stale lock file never blocks a restart.
public final class DirectoryLock: Sendable {
    public let path: String
    private let fd: Int32

    public init(path: String, purpose: String) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw DaemonError.internal("cannot open lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            let holder = Self.readHolder(fd)
            close(fd)
            if code == EWOULDBLOCK {
                throw DaemonError.conflictingDaemon(
                    "another apusd\(holder.map { " (pid \($0))" } ?? "") already uses \(purpose) (lock \(path))")
            }
            throw DaemonError.internal("cannot lock \(path): \(String(cString: strerror(code)))")
        }
        // Record our pid for the error message a second instance prints; the lock, not this text, is what counts.
        let text = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        self.path = path
        self.fd = fd
    }

    private static func readHolder(_ fd: Int32) -> Int? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 31, 0) }
        guard count > 0 else { return nil }
        return Int(String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    deinit { close(fd) }
}
