/// What an image file's first bytes say about it, read before anything else is opened: its format and the backing
/// file it names. A caller that must vet every file of a backing chain (apusd's image-root policy) walks the chain
/// with this, checking each file before `DiskImages.open` follows it.
public struct ImageHeaderSummary: Sendable, Equatable {
    /// "raw" or "qcow2".
    public let format: String
    /// The backing file as stored in the image (a relative name is relative to the image's directory).
    public let backingFile: String?
    /// The backing file's format, when the image records it.
    public let backingFormat: String?

    /// How many leading bytes `parse` needs at most (qcow2 headers, extensions and the backing name fit in one
    /// cluster of at most 2 MiB).
    public static let maximumHeaderBytes = 1 << 21

    /// Reads the summary from an image's leading bytes (`min(fileSize, maximumHeaderBytes)` of them); a qcow2 header
    /// is checked as `Qcow2Image` checks it at open, so an unsupported or malformed header fails here already.
    public static func parse(_ bytes: [UInt8], path: String, fileSize: UInt64) throws(DiskError) -> ImageHeaderSummary {
        guard bytes.count >= 4, BigEndian.u32(bytes, 0) == Qcow2Header.magic else {
            return ImageHeaderSummary(format: "raw", backingFile: nil, backingFormat: nil)
        }
        let header = try Qcow2Header.parse(bytes, path: path, fileSize: fileSize)
        return ImageHeaderSummary(format: "qcow2", backingFile: header.backingFile, backingFormat: header.backingFormat)
    }

    /// The backing file's path as `Qcow2Image` opens it: absolute as stored, or relative to `imagePath`'s directory.
    public func resolvedBackingFile(relativeTo imagePath: String) -> String? {
        guard let backingFile else { return nil }
        return backingFile.hasPrefix("/") ? backingFile : Qcow2Image.directory(of: imagePath) + "/" + backingFile
    }
}
