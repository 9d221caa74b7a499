#if canImport(Glibc)
import Glibc
#endif

/// An open host file with whole-transfer positional I/O (short reads and writes, EINTR retried).
final class HostFile {
    let path: String
    let descriptor: Int32
    let isReadOnly: Bool

    init(path: String, readOnly: Bool, create: Bool = false) throws(DiskError) {
        self.path = path
        self.isReadOnly = readOnly
        var flags = (readOnly ? O_RDONLY : O_RDWR) | O_CLOEXEC
        if create { flags |= O_CREAT | O_EXCL }
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else { throw .system(path: path, operation: create ? "create" : "open", errno: errno) }
        descriptor = fd
    }

    /// Takes over an open descriptor (closed with this file).
    init(path: String, descriptor: Int32, readOnly: Bool) {
        self.path = path
        self.descriptor = descriptor
        self.isReadOnly = readOnly
    }

    deinit { close(descriptor) }

    func size() throws(DiskError) -> UInt64 {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .system(path: path, operation: "stat", errno: errno) }
        return UInt64(info.st_size)
    }

    /// Reads exactly `buffer.count` bytes; bytes past the end of the file read as zero.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(DiskError) {
        var done = 0
        while done < buffer.count {
            let count = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if count < 0 {
                if errno == EINTR { continue }
                throw .system(path: path, operation: "read", errno: errno)
            }
            if count == 0 {
                (buffer.baseAddress! + done).initializeMemory(as: UInt8.self, repeating: 0, count: buffer.count - done)
                return
            }
            done += count
        }
    }

    func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(DiskError) {
        guard !isReadOnly else { throw .readOnly(path: path) }
        var done = 0
        while done < buffer.count {
            let count = pwrite(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if count < 0 {
                if errno == EINTR { continue }
                throw .system(path: path, operation: "write", errno: errno)
            }
            done += count
        }
    }

    func readBytes(at offset: UInt64, count: Int) throws(DiskError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withMutableBytes { buffer throws(DiskError) in try read(into: buffer, at: offset) }
        return bytes
    }

    func write(_ bytes: [UInt8], at offset: UInt64) throws(DiskError) {
        try bytes.withBytes { buffer throws(DiskError) in try write(buffer, at: offset) }
    }

    func truncate(to size: UInt64) throws(DiskError) {
        guard ftruncate(descriptor, off_t(size)) == 0 else { throw .system(path: path, operation: "truncate", errno: errno) }
    }

    func sync() throws(DiskError) {
        guard isReadOnly || fdatasync(descriptor) == 0 else { throw .system(path: path, operation: "fsync", errno: errno) }
    }

    /// Gives the range back to the file system; a file system that cannot punch holes keeps the bytes (still valid:
    /// callers only punch what no longer holds data).
    func punchHole(offset: UInt64, length: UInt64) {
        guard !isReadOnly, length > 0 else { return }
        _ = HostFile.fallocate?(descriptor, 0x02 | 0x01, off_t(offset), off_t(length))  // PUNCH_HOLE | KEEP_SIZE
    }

    /// glibc's fallocate(2) wrapper, looked up at run time: Swift's Glibc module does not import the GNU-only
    /// declaration.
    private typealias FallocateFunction = @convention(c) (Int32, Int32, off_t, off_t) -> Int32
    private static let fallocate: FallocateFunction? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "fallocate") else { return nil }
        return unsafeBitCast(symbol, to: FallocateFunction.self)
    }()
}

/// Big-endian field access for on-disk headers and tables.
enum BigEndian {
    static func u16(_ bytes: [UInt8], _ at: Int) -> UInt16 { UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1]) }
    static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 << 8 | UInt32(bytes[at + $1]) }
    }
    static func u64(_ bytes: [UInt8], _ at: Int) -> UInt64 {
        (0..<8).reduce(0) { $0 << 8 | UInt64(bytes[at + $1]) }
    }
    static func put<T: FixedWidthInteger>(_ value: T, _ bytes: inout [UInt8], _ at: Int) {
        let size = MemoryLayout<T>.size
        for i in 0..<size { bytes[at + i] = UInt8(truncatingIfNeeded: value >> (8 * (size - 1 - i))) }
    }
    static func bytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: MemoryLayout<T>.size)
        put(value, &out, 0)
        return out
    }
}
