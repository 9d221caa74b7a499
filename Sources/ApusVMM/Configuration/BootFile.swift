import ApusCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads the files a boot needs (image, kernel, initrd). The file is opened first and everything is checked on the
/// open descriptor (never stat-then-open, which a swapped file defeats): only a regular file, not empty, no larger
/// than guest memory. Opening never blocks (a FIFO opens at once and is then refused) and reading stops at the size
/// checked, so `/dev/zero` or a growing file cannot make the reader run away. Every failure is one sentence naming
/// the file, its role and the rule it broke.
public enum BootFile {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Opens, checks and reads `path` whole.
    public static func read(_ path: String, role: String, limit: UInt64) throws -> [UInt8] {
        try open(path, role: role, limit: limit).readAll()
    }

    /// Opens `path` and checks it without reading it. With `followingSymlinks: false` a symbolic link as the last
    /// component is refused (O_NOFOLLOW), for callers that resolved the path themselves.
    public static func open(_ path: String, role: String, limit: UInt64,
                            followingSymlinks: Bool = true) throws -> OpenedBootFile {
        var flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC
        if !followingSymlinks { flags |= O_NOFOLLOW }
        let descriptor = SystemCall.retryingInterrupts { Glibc.open(path, flags) }
        guard descriptor >= 0 else {
            let code = errno
            if code == ELOOP && !followingSymlinks {
                throw Failure(description: "\(role) '\(path)' is refused: it is a symbolic link")
            }
            throw Failure(description: "cannot read \(role) '\(path)': \(String(cString: strerror(code)))")
        }
        let file = OpenedBootFile(descriptor: descriptor, path: path, role: role)
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            throw Failure(description: "cannot read \(role) '\(path)': \(String(cString: strerror(errno)))")
        }
        let type = status.st_mode & S_IFMT
        guard type == S_IFREG else {
            throw Failure(description: "\(role) '\(path)' is refused: it is \(describe(type)), not a regular file")
        }
        let size = UInt64(max(status.st_size, 0))
        guard size > 0 else { throw Failure(description: "\(role) '\(path)' is empty") }
        guard size <= limit else {
            throw Failure(description: "\(role) '\(path)' is refused: it is \(megabytes(size)) MiB, larger than guest memory (\(megabytes(limit)) MiB)")
        }
        file.size = size
        return file
    }

    static func describe(_ type: mode_t) -> String {
        switch type {
        case S_IFDIR: return "a directory"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symbolic link"
        default: return "a special file"
        }
    }

    private static func megabytes(_ bytes: UInt64) -> String {
        bytes % (1 << 20) == 0 ? "\(bytes >> 20)" : String(format: "%.1f", Double(bytes) / Double(1 << 20))
    }
}

/// A boot file opened and checked by `BootFile.open`: the descriptor that was checked is the one read from.
public final class OpenedBootFile: @unchecked Sendable {
    // @unchecked: the descriptor and size are set once, before the object is shared, and never change after.
    public let descriptor: Int32
    public let path: String
    public let role: String
    /// The size checked at open; reading stops there.
    public internal(set) var size: UInt64 = 0

    init(descriptor: Int32, path: String, role: String) {
        self.descriptor = descriptor
        self.path = path
        self.role = role
    }

    deinit { close(descriptor) }

    /// The file's `size` bytes, read with pread from the start; a file that shrank meanwhile is an error.
    public func readAll() throws -> [UInt8] {
        let total = Int(size)
        var bytes = [UInt8](repeating: 0, count: total)
        var done = 0
        while done < total {
            let count = bytes.withUnsafeMutableBytes { buffer in
                SystemCall.retryingInterrupts {
                    pread(descriptor, buffer.baseAddress! + done, total - done, off_t(done))
                }
            }
            if count < 0 {
                throw BootFile.Failure(description: "cannot read \(role) '\(path)': \(String(cString: strerror(errno)))")
            }
            if count == 0 {
                throw BootFile.Failure(description: "\(role) '\(path)' shrank while it was being read (\(done) of \(total) bytes)")
            }
            done += count
        }
        return bytes
    }
}
