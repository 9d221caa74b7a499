/// A raw image: the file's bytes are the disk's bytes.
public final class RawImage: DiskImage {
    let file: HostFile
    public let virtualSize: UInt64
    public var isReadOnly: Bool { file.isReadOnly }
    public var formatName: String { "raw" }
    public var path: String { file.path }

    public convenience init(path: String, readOnly: Bool) throws(DiskError) {
        try self.init(file: HostFile(path: path, readOnly: readOnly))
    }

    init(file: HostFile) throws(DiskError) {
        self.file = file
        virtualSize = try file.size()
    }

    /// Creates a sparse raw image of `size` bytes; refuses to overwrite an existing file.
    public static func create(path: String, size: UInt64) throws(DiskError) -> RawImage {
        let file = try HostFile(path: path, readOnly: false, create: true)
        try file.truncate(to: size)
        return try RawImage(path: path, readOnly: false)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(DiskError) {
        try checkRange(offset: offset, length: buffer.count)
        try file.read(into: buffer, at: offset)
    }

    public func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(DiskError) {
        guard !isReadOnly else { throw .readOnly(path: file.path) }
        try checkRange(offset: offset, length: buffer.count)
        try file.write(buffer, at: offset)
    }

    public func discard(offset: UInt64, length: UInt64) throws(DiskError) {
        guard !isReadOnly else { throw .readOnly(path: file.path) }
        guard length <= UInt64(Int.max) else { throw .outOfRange(offset: offset, length: length, size: virtualSize) }
        try checkRange(offset: offset, length: Int(length))
        file.punchHole(offset: offset, length: length)
    }

    public func flush() throws(DiskError) { try file.sync() }
}
