import ApusCore
public import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Crash-safe file writes: data goes to a temporary name, is fsynced, renamed over the final name, and the directory
/// is fsynced, so a reader sees the old file or the new one, never half of one — even after `kill -9` or power loss.
public enum DurableFile {
    /// Replaces `path` with `data` atomically. `durable: false` skips the fsyncs: a reader still sees the old file or
    /// the new one, but after a power loss it may be the old one (for changes that crash recovery does not rely on).
    public static func replace(_ path: String, with data: Data, durable: Bool = true) throws {
        let temporary = path + ".tmp-\(getpid())"
        try write(temporary, sync: durable) { fd in
            try data.withUnsafeBytes { try writeAll(fd, $0, path: temporary) }
        }
        try commit(temporary, to: path, sync: durable)
    }

    /// Creates `path` afresh, lets `body` fill it, then fsyncs and closes it.
    static func write(_ path: String, sync: Bool = true, _ body: (Int32) throws -> Void) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SnapshotError.io(path: path, operation: "create", errno: errno) }
        defer { close(fd) }
        try body(fd)
        guard !sync || fsync(fd) == 0 else { throw SnapshotError.io(path: path, operation: "flush", errno: errno) }
    }

    /// Renames `temporary` to `path` and makes the rename itself durable.
    static func commit(_ temporary: String, to path: String, sync: Bool = true) throws {
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw SnapshotError.io(path: path, operation: "replace", errno: code)
        }
        if sync { try syncDirectory(of: path) }
    }

    public static func syncDirectory(of path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw SnapshotError.io(path: directory, operation: "open", errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw SnapshotError.io(path: directory, operation: "flush", errno: errno) }
    }

    /// Writes every byte, retrying after EINTR and short writes; ENOSPC surfaces as an error naming the file.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        guard var cursor = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let written = SystemCall.retryingInterrupts { Glibc.write(fd, cursor, remaining) }
            if written < 0 {
                throw SnapshotError.io(path: path, operation: "write", errno: errno)
            }
            cursor += written
            remaining -= written
        }
    }

    static func readAll(_ fd: Int32, into bytes: UnsafeMutableRawBufferPointer, path: String) throws {
        guard var cursor = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let count = SystemCall.retryingInterrupts { read(fd, cursor, remaining) }
            if count < 0 {
                throw SnapshotError.io(path: path, operation: "read", errno: errno)
            }
            guard count > 0 else { throw SnapshotError.corrupt("\(path) is shorter than the memory it should hold") }
            cursor += count
            remaining -= count
        }
    }
}
