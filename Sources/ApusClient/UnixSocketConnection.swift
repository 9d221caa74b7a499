import ApusCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One blocking AF_UNIX stream connection; reads and writes retry after EINTR (Foundation's URLSession cannot talk
/// to a Unix socket on Linux).
final class UnixSocketConnection {
    private let fd: Int32
    let socketPath: String

    init(path: String) throws {
        socketPath = path
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ClientError.connectionFailed(socket: path, reason: String(cString: strerror(errno))) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else {
            close(fd)
            throw ClientError.connectionFailed(socket: path, reason: "the path is longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: path.utf8)
            buffer[path.utf8.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(fd)
            switch code {
            case ENOENT, ECONNREFUSED: throw ClientError.daemonNotRunning(socket: path)
            case EACCES, EPERM: throw ClientError.permissionDenied(socket: path)
            default: throw ClientError.connectionFailed(socket: path, reason: String(cString: strerror(code)))
            }
        }
    }

    deinit { close(fd) }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { pending in
                SystemCall.retryingInterrupts { Glibc.send(fd, pending.baseAddress, pending.count, Int32(MSG_NOSIGNAL)) }
            }
            if written < 0 {
                throw ClientError.protocolError("the connection broke while sending (\(String(cString: strerror(errno))))")
            }
            offset += written
        }
    }

    /// Up to `maximum` bytes; an empty result means the daemon closed the connection.
    func read(maximum: Int = 64 << 10) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: maximum)
        let count = buffer.withUnsafeMutableBytes { bytes in
            SystemCall.retryingInterrupts { recv(fd, bytes.baseAddress, maximum, 0) }
        }
        if count < 0 {
            throw ClientError.protocolError("the connection broke while reading (\(String(cString: strerror(errno))))")
        }
        return Array(buffer[0..<count])
    }

    /// Stops further sends (so a streamed upload ends) while reads go on.
    func shutdownWrite() { shutdown(fd, Int32(SHUT_WR)) }
}

private extension ArraySlice where Element == UInt8 {
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try self.withUnsafeBufferPointer { try body(UnsafeRawBufferPointer($0)) }
    }
}
