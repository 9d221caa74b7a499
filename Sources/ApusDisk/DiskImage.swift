/// A virtual disk as a block device sees it: a byte-addressed store of `virtualSize` bytes.
///
/// Implementations are not thread-safe; the owning device serialises requests.
public protocol DiskImage: AnyObject {
    /// The guest-visible size in bytes.
    var virtualSize: UInt64 { get }
    var isReadOnly: Bool { get }
    /// A short name for messages ("raw", "qcow2").
    var formatName: String { get }

    /// Fills `buffer` from `offset`; `offset + buffer.count` must not exceed `virtualSize`.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(DiskError)
    func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(DiskError)
    /// The guest no longer needs these bytes; they may read back as zero afterwards.
    func discard(offset: UInt64, length: UInt64) throws(DiskError)
    /// Everything written so far reaches stable storage.
    func flush() throws(DiskError)
}

extension DiskImage {
    /// The range check every request goes through.
    func checkRange(offset: UInt64, length: Int) throws(DiskError) {
        let (end, overflow) = offset.addingReportingOverflow(UInt64(length))
        guard !overflow, end <= virtualSize else {
            throw .outOfRange(offset: offset, length: UInt64(length), size: virtualSize)
        }
    }

    public func readBytes(at offset: UInt64, count: Int) throws(DiskError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withMutableBytes { buffer throws(DiskError) in try read(into: buffer, at: offset) }
        return bytes
    }

    public func write(_ bytes: [UInt8], at offset: UInt64) throws(DiskError) {
        try bytes.withBytes { buffer throws(DiskError) in try write(buffer, at: offset) }
    }
}

/// Opening an image file by format.
public enum DiskImages {
    /// Opens `path` as `format` ("raw" or "qcow2"), or probes it (qcow2 magic, else raw) when `format` is nil.
    public static func open(path: String, format: String? = nil, readOnly: Bool) throws(DiskError) -> any DiskImage {
        let chosen: String
        if let format { chosen = format } else { chosen = try Qcow2Image.probeFormat(path) }
        switch chosen {
        case "raw": return try RawImage(path: path, readOnly: readOnly)
        case "qcow2": return try Qcow2Image(path: path, readOnly: readOnly)
        case let other: throw .invalidArgument("disk format \(other) is not supported (raw or qcow2)")
        }
    }
}
