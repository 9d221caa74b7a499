/// The qcow2 header (big-endian, versions 2 and 3) and its extensions, parsed and checked against the file.
struct Qcow2Header: Equatable {
    static let magic: UInt32 = 0x5146_49FB                 // "QFI\xfb"
    static let version3Length: UInt32 = 104

    enum Extension {
        static let end: UInt32 = 0
        static let backingFormat: UInt32 = 0xE279_2ACA
        static let featureNames: UInt32 = 0x6803_F857
        static let bitmaps: UInt32 = 0x2385_2875
        static let encryption: UInt32 = 0x0537_BE77
        static let externalData: UInt32 = 0x4441_5441
    }

    enum Incompatible {
        static let dirty: UInt64 = 1 << 0
        static let corrupt: UInt64 = 1 << 1
        static let externalData: UInt64 = 1 << 2
        static let compressionType: UInt64 = 1 << 3
        static let extendedL2: UInt64 = 1 << 4
    }

    var version: UInt32 = 3
    var backingFileOffset: UInt64 = 0
    var backingFileSize: UInt32 = 0
    var clusterBits: UInt32 = 16
    var size: UInt64 = 0
    var encryptionMethod: UInt32 = 0
    var l1Size: UInt32 = 0
    var l1TableOffset: UInt64 = 0
    var refcountTableOffset: UInt64 = 0
    var refcountTableClusters: UInt32 = 0
    var snapshotCount: UInt32 = 0
    var snapshotsOffset: UInt64 = 0
    var incompatibleFeatures: UInt64 = 0
    var compatibleFeatures: UInt64 = 0
    var autoclearFeatures: UInt64 = 0
    var refcountOrder: UInt32 = 4
    var headerLength: UInt32 = version3Length
    var compressionType: UInt8 = 0

    // From the extensions and the name field.
    var backingFile: String?
    var backingFormat: String?

    var clusterSize: UInt64 { 1 << UInt64(clusterBits) }

    /// Parses and checks the header in `cluster` (the file's first cluster, or as much of it as exists).
    static func parse(_ bytes: [UInt8], path: String, fileSize: UInt64) throws(DiskError) -> Qcow2Header {
        guard bytes.count >= 72, BigEndian.u32(bytes, 0) == magic else {
            throw .notAnImage(path: path, reason: "no qcow2 magic")
        }
        var header = Qcow2Header()
        header.version = BigEndian.u32(bytes, 4)
        guard header.version == 2 || header.version == 3 else {
            throw .unsupported(path: path, feature: "qcow2 version \(header.version)")
        }
        header.backingFileOffset = BigEndian.u64(bytes, 8)
        header.backingFileSize = BigEndian.u32(bytes, 16)
        header.clusterBits = BigEndian.u32(bytes, 20)
        header.size = BigEndian.u64(bytes, 24)
        header.encryptionMethod = BigEndian.u32(bytes, 32)
        header.l1Size = BigEndian.u32(bytes, 36)
        header.l1TableOffset = BigEndian.u64(bytes, 40)
        header.refcountTableOffset = BigEndian.u64(bytes, 48)
        header.refcountTableClusters = BigEndian.u32(bytes, 56)
        header.snapshotCount = BigEndian.u32(bytes, 60)
        header.snapshotsOffset = BigEndian.u64(bytes, 64)
        guard (9...21).contains(header.clusterBits) else {
            throw .corrupt(path: path, reason: "cluster_bits \(header.clusterBits) is outside 9...21")
        }
        guard bytes.count >= Int(header.clusterSize) || UInt64(bytes.count) >= fileSize else {
            throw .corrupt(path: path, reason: "the header cluster was not read whole")
        }
        if header.version == 3 {
            guard bytes.count >= 104 else { throw .corrupt(path: path, reason: "the version 3 header is truncated") }
            header.incompatibleFeatures = BigEndian.u64(bytes, 72)
            header.compatibleFeatures = BigEndian.u64(bytes, 80)
            header.autoclearFeatures = BigEndian.u64(bytes, 88)
            header.refcountOrder = BigEndian.u32(bytes, 96)
            header.headerLength = BigEndian.u32(bytes, 100)
            guard header.headerLength >= 104, header.headerLength % 8 == 0,
                  UInt64(header.headerLength) <= min(header.clusterSize, UInt64(bytes.count)) else {
                throw .corrupt(path: path, reason: "header_length \(header.headerLength) is invalid")
            }
            if header.headerLength > 104 { header.compressionType = bytes[104] }
        } else {
            header.headerLength = 72
        }
        try header.checkFeatures(path: path)
        try header.parseExtensions(bytes, path: path)
        try header.parseBackingName(bytes, path: path)
        return header
    }

    private func checkFeatures(path: String) throws(DiskError) {
        guard encryptionMethod == 0 else { throw .unsupported(path: path, feature: "encryption (method \(encryptionMethod))") }
        if incompatibleFeatures & Incompatible.corrupt != 0 {
            throw .corrupt(path: path, reason: "the image is marked corrupt; repair it with qemu-img check -r all")
        }
        if incompatibleFeatures & Incompatible.dirty != 0 {
            throw .unsupported(path: path, feature: "a dirty refcount state (lazy refcounts after a crash); "
                               + "repair it with qemu-img check -r all")
        }
        if incompatibleFeatures & Incompatible.externalData != 0 {
            throw .unsupported(path: path, feature: "an external data file")
        }
        if incompatibleFeatures & Incompatible.extendedL2 != 0 {
            throw .unsupported(path: path, feature: "extended L2 entries (subclusters)")
        }
        if incompatibleFeatures & Incompatible.compressionType != 0, compressionType != 0 {
            throw .unsupported(path: path, feature: "compression type \(compressionType) (only zlib/deflate is read)")
        }
        let known = Incompatible.dirty | Incompatible.corrupt | Incompatible.externalData
            | Incompatible.compressionType | Incompatible.extendedL2
        let unknown = incompatibleFeatures & ~known
        guard unknown == 0 else {
            throw .unsupported(path: path, feature: "unknown incompatible feature bits 0x\(String(unknown, radix: 16))")
        }
        guard (3...6).contains(refcountOrder) else {
            throw .unsupported(path: path, feature: "refcount_order \(refcountOrder) (Apus handles 8- to 64-bit refcounts)")
        }
    }

    private mutating func parseExtensions(_ bytes: [UInt8], path: String) throws(DiskError) {
        guard version == 3 else { return }
        var at = Int(headerLength)
        while true {
            guard at + 8 <= bytes.count else { throw .corrupt(path: path, reason: "header extensions run off the cluster") }
            let type = BigEndian.u32(bytes, at)
            let length = Int(BigEndian.u32(bytes, at + 4))
            if type == Extension.end { return }
            guard length <= bytes.count - at - 8 else {
                throw .corrupt(path: path, reason: "header extension 0x\(String(type, radix: 16)) runs off the cluster")
            }
            let data = Array(bytes[(at + 8)..<(at + 8 + length)])
            switch type {
            case Extension.backingFormat:
                backingFormat = String(decoding: data, as: UTF8.self)
            case Extension.encryption:
                throw .unsupported(path: path, feature: "encryption")
            case Extension.externalData:
                throw .unsupported(path: path, feature: "an external data file")
            default:
                break  // feature names, bitmaps (an autoclear feature, cleared when opened for writing), unknown
            }
            at += 8 + (length + 7) / 8 * 8
        }
    }

    private mutating func parseBackingName(_ bytes: [UInt8], path: String) throws(DiskError) {
        guard backingFileOffset != 0 else { return }
        let (end, overflow) = backingFileOffset.addingReportingOverflow(UInt64(backingFileSize))
        guard !overflow, backingFileSize > 0, backingFileSize <= 1023, end <= UInt64(bytes.count),
              end <= clusterSize else {
            throw .corrupt(path: path, reason: "the backing file name lies outside the header cluster")
        }
        backingFile = String(decoding: bytes[Int(backingFileOffset)..<Int(end)], as: UTF8.self)
    }

    /// The header as written by Apus: version 3, 104 bytes, then extensions and the backing name.
    func serialize() -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Int(Self.version3Length))
        BigEndian.put(Self.magic, &bytes, 0)
        BigEndian.put(UInt32(3), &bytes, 4)
        BigEndian.put(backingFileOffset, &bytes, 8)
        BigEndian.put(backingFileSize, &bytes, 16)
        BigEndian.put(clusterBits, &bytes, 20)
        BigEndian.put(size, &bytes, 24)
        BigEndian.put(UInt32(0), &bytes, 32)
        BigEndian.put(l1Size, &bytes, 36)
        BigEndian.put(l1TableOffset, &bytes, 40)
        BigEndian.put(refcountTableOffset, &bytes, 48)
        BigEndian.put(refcountTableClusters, &bytes, 56)
        BigEndian.put(snapshotCount, &bytes, 60)
        BigEndian.put(snapshotsOffset, &bytes, 64)
        BigEndian.put(incompatibleFeatures, &bytes, 72)
        BigEndian.put(compatibleFeatures, &bytes, 80)
        BigEndian.put(autoclearFeatures, &bytes, 88)
        BigEndian.put(refcountOrder, &bytes, 96)
        BigEndian.put(Self.version3Length, &bytes, 100)
        if let backingFormat {
            let name = Array(backingFormat.utf8)
            bytes += BigEndian.bytes(Extension.backingFormat) + BigEndian.bytes(UInt32(name.count)) + name
            bytes += [UInt8](repeating: 0, count: (8 - name.count % 8) % 8)
        }
        bytes += [UInt8](repeating: 0, count: 8)  // end of extensions
        if let backingFile {
            let name = Array(backingFile.utf8)
            BigEndian.put(UInt64(bytes.count), &bytes, 8)
            BigEndian.put(UInt32(name.count), &bytes, 16)
            bytes += name
        }
        return bytes
    }
}
