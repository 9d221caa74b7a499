#if canImport(Glibc)
import Glibc
#endif

/// Creating qcow2 version 3 images: empty, or an overlay over a backing image (a copy-on-write clone).
extension Qcow2Image {
    /// Creates `path` (never overwriting a file) and opens it read-write.
    ///
    /// - Parameters:
    ///   - size: the disk size; nil takes the backing image's size.
    ///   - backingFile: stored as given (a relative name is resolved against the new image's directory).
    ///   - backingFormat: "raw" or "qcow2"; nil probes the backing file.
    public static func create(path: String, size: UInt64? = nil, backingFile: String? = nil,
                              backingFormat: String? = nil, clusterBits: UInt32 = 16) throws(DiskError) -> Qcow2Image {
        guard (12...21).contains(clusterBits) else {
            throw .invalidArgument("cluster_bits \(clusterBits) is outside 12...21")
        }
        var header = Qcow2Header()
        header.clusterBits = clusterBits
        if let backingFile {
            let resolved = backingFile.hasPrefix("/") ? backingFile : directory(of: path) + "/" + backingFile
            let format: String
            if let backingFormat { format = backingFormat } else { format = try probeFormat(resolved) }
            let base: any DiskImage
            switch format {
            case "qcow2": base = try Qcow2Image(path: resolved, readOnly: true)
            case "raw": base = try RawImage(path: resolved, readOnly: true)
            default: throw .invalidArgument("backing format \(format) is not supported")
            }
            header.backingFile = backingFile
            header.backingFormat = format
            header.size = size ?? base.virtualSize
        } else {
            guard let size else { throw .invalidArgument("a size is needed when there is no backing file") }
            header.size = size
        }
        guard header.size < (1 << 50) else { throw .invalidArgument("size \(header.size) is too large") }

        let cluster = header.clusterSize
        let perL2 = cluster / 8
        let dataClusters = (header.size + cluster - 1) / cluster
        let l1Entries = max(1, (dataClusters + perL2 - 1) / perL2)
        let l1Clusters = (l1Entries * 8 + cluster - 1) / cluster
        let perBlock = cluster * 8 / 16
        // Room for every data cluster, L2 table and refcount block the disk can ever need, so it never outgrows
        // the table.
        let maxClusters = dataClusters + l1Entries + l1Clusters + 64
        let blocks = (maxClusters + perBlock - 1) / perBlock
        let tableEntries = blocks + blocks / perBlock + 8
        let tableClusters = (tableEntries * 8 + cluster - 1) / cluster

        // Layout: header, refcount table, refcount block 0, L1 table.
        header.refcountTableOffset = cluster
        header.refcountTableClusters = UInt32(tableClusters)
        let block0 = cluster * (1 + tableClusters)
        header.l1TableOffset = block0 + cluster
        header.l1Size = UInt32(l1Entries)
        let used = 2 + tableClusters + l1Clusters
        guard used <= perBlock else { throw .invalidArgument("the metadata does not fit one refcount block") }
        let headerBytes = header.serialize()
        guard UInt64(headerBytes.count) <= cluster else { throw .invalidArgument("the backing file name is too long") }

        let file = try HostFile(path: path, readOnly: false, create: true)
        try file.truncate(to: used * cluster)
        try file.write(headerBytes, at: 0)
        try file.write(BigEndian.bytes(block0), at: header.refcountTableOffset)
        var refcounts = [UInt8](repeating: 0, count: Int(used) * 2)
        for index in 0..<Int(used) { refcounts[2 * index + 1] = 1 }
        try file.write(refcounts, at: block0)
        try file.sync()
        do {
            return try Qcow2Image(path: path, readOnly: false)
        } catch {
            // An image that cannot be opened (its chain would be too deep) is not left behind.
            unlink(path)
            throw error
        }
    }
}
