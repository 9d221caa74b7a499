import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Who is on the other end of a Unix socket connection, as the kernel recorded it at connect time.
struct PeerCredentials: Sendable, CustomStringConvertible {
    var pid: Int32
    var uid: UInt32
    var gid: UInt32

    /// The layout of Linux's `struct ucred` (pid_t, uid_t, gid_t); spelled out because Glibc exposes it only under
    /// _GNU_SOURCE. NIO sizes the getsockopt buffer from this type.
    private struct UCred: Sendable {
        var pid: Int32 = 0
        var uid: UInt32 = 0
        var gid: UInt32 = 0
    }

    static func of(_ channel: any Channel) async -> PeerCredentials? {
        guard let provider = channel as? any SocketOptionProvider else { return nil }
        let future: EventLoopFuture<UCred> = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET),
                                                                            name: SocketOptionName(SO_PEERCRED))
        guard let credentials = try? await future.get() else { return nil }
        return PeerCredentials(pid: credentials.pid, uid: credentials.uid, gid: credentials.gid)
    }

    var description: String { "uid=\(uid) pid=\(pid)" }
}
