#if canImport(Glibc)
import Glibc
#endif

/// A qcow2 image (versions 2 and 3): L1/L2 cluster mapping, refcounts, zero clusters, compressed clusters (read;
/// written clusters are stored uncompressed), a backing image for what this one does not hold.
///
/// Everything is checked when the image is opened — header, features, every L1, refcount table and L2 entry against
/// the file — so a corrupt or unsupported image is refused whole, never half-opened. Writes follow qcow2's ordering:
/// data and refcounts first, a sync, then the L2 (and L1) entries that make them reachable; a crash leaks clusters
/// at worst. The entries for newly allocated clusters are held in memory (and serve reads at once) until the next
/// `flush()` or until `maxPendingEntries` accumulate, as a write-back disk cache would: like QEMU's, unflushed
/// writes to new clusters may be lost in a crash, flushed ones never.
public final class Qcow2Image: DiskImage {
    let file: HostFile
    var header: Qcow2Header
    public let backing: (any DiskImage)?
    var l1: [UInt64]
    var refcountTable: [UInt64]
    /// L2 tables by host offset; all were validated at open, new ones are created empty.
    var l2Tables: [UInt64: [UInt64]] = [:]
    /// Where the next cluster is allocated (clusters are appended; freed ones are punched out of the file).
    var fileEnd: UInt64
    /// L2 entries (by their position in the file) and L1 entries written in memory, not yet in the file.
    var pendingL2: [UInt64: UInt64] = [:]
    var pendingL1: [Int: UInt64] = [:]
    /// Compressed clusters replaced by pending entries, released once those entries are durable.
    var pendingReleases: [UInt64] = []
    /// How many new mappings may wait for a flush before they are written anyway.
    public static let maxPendingEntries = 16384

    let clusterSize: UInt64
    let clusterBits: UInt64
    let l2Entries: UInt64
    let refcountBytes: Int
    let refcountsPerBlock: UInt64

    public var virtualSize: UInt64 { header.size }
    public var isReadOnly: Bool { file.isReadOnly }
    public var formatName: String { "qcow2" }
    public var path: String { file.path }
    public var backingFileName: String? { header.backingFile }

    /// Opens `path`; the backing chain is opened read-only, at most `maxChainDepth` deep and without loops.
    public convenience init(path: String, readOnly: Bool) throws(DiskError) {
        try self.init(path: path, readOnly: readOnly, chain: [])
    }

    convenience init(path: String, readOnly: Bool, chain: [String]) throws(DiskError) {
        try self.init(file: HostFile(path: path, readOnly: readOnly), readOnly: readOnly, chain: chain,
                      backingFiles: .byName)
    }

    init(file: HostFile, readOnly: Bool, chain: [String], backingFiles: BackingFiles) throws(DiskError) {
        let path = file.path
        let fileSize = try file.size()
        let first = try file.readBytes(at: 0, count: Int(min(fileSize, 1 << 21)))
        let header = try Qcow2Header.parse(first, path: path, fileSize: fileSize)
        if header.snapshotCount > 0, !readOnly {
            throw .unsupported(path: path, feature: "internal snapshots (open it read-only)")
        }
        let tables = try Qcow2Image.loadTables(header, file: file, fileSize: fileSize)
        let l2Tables = try Qcow2Image.loadL2Tables(tables.l1, header, file: file, fileSize: fileSize)
        let backing = try Qcow2Image.openBacking(header, imagePath: path, chain: chain, from: backingFiles)
        self.file = file
        self.header = header
        self.l1 = tables.l1
        self.refcountTable = tables.refcounts
        self.l2Tables = l2Tables
        self.backing = backing
        clusterBits = UInt64(header.clusterBits)
        clusterSize = header.clusterSize
        l2Entries = header.clusterSize / 8
        refcountBytes = (1 << Int(header.refcountOrder)) / 8
        refcountsPerBlock = header.clusterSize / UInt64((1 << Int(header.refcountOrder)) / 8)
        fileEnd = (fileSize + header.clusterSize - 1) & ~(header.clusterSize - 1)
        if !readOnly, header.autoclearFeatures != 0 {
            // Bitmaps and other autoclear features are not maintained: clearing the bits tells the next reader.
            self.header.autoclearFeatures = 0
            try file.write(BigEndian.bytes(UInt64(0)), at: 88)
        }
    }

    // MARK: - Open-time checks

    private static func loadTables(_ header: Qcow2Header, file: HostFile,
                                   fileSize: UInt64) throws(DiskError) -> (l1: [UInt64], refcounts: [UInt64]) {
        let path = file.path
        let cluster = header.clusterSize
        let perL2 = cluster / 8
        let (clusters, _) = header.size.addingReportingOverflow(cluster - 1)
        let needed = (clusters >> UInt64(header.clusterBits) + perL2 - 1) / perL2
        guard header.size < (1 << 56), UInt64(header.l1Size) >= needed, header.l1Size <= (1 << 25) else {
            throw .corrupt(path: path, reason: "L1 size \(header.l1Size) does not fit the disk size \(header.size)")
        }
        func within(_ offset: UInt64, _ length: UInt64) -> Bool {
            offset % cluster == 0 && offset <= fileSize && length <= fileSize - offset
        }
        guard header.l1Size == 0 || within(header.l1TableOffset, UInt64(header.l1Size) * 8) else {
            throw .corrupt(path: path, reason: "the L1 table at \(header.l1TableOffset) lies outside the file")
        }
        let refcountLength = UInt64(header.refcountTableClusters) * cluster
        guard header.refcountTableClusters > 0, header.refcountTableClusters <= (1 << 16),
              within(header.refcountTableOffset, refcountLength) else {
            throw .corrupt(path: path, reason: "the refcount table at \(header.refcountTableOffset) lies outside the file")
        }
        let l1 = try readTable(file, at: header.l1TableOffset, count: Int(header.l1Size))
        for (index, entry) in l1.enumerated() {
            let offset = entry & Qcow2Entry.offsetMask
            guard entry & Qcow2Entry.l1Reserved == 0, offset == 0 || within(offset, cluster) else {
                throw .corrupt(path: path, reason: "L1 entry \(index) (0x\(String(entry, radix: 16))) is invalid")
            }
        }
        let refcounts = try readTable(file, at: header.refcountTableOffset, count: Int(refcountLength / 8))
        for (index, entry) in refcounts.enumerated() {
            guard entry & 0x1FF == 0, entry == 0 || within(entry, cluster) else {
                throw .corrupt(path: path, reason: "refcount table entry \(index) (0x\(String(entry, radix: 16))) is invalid")
            }
        }
        return (l1, refcounts)
    }

    private static func loadL2Tables(_ l1: [UInt64], _ header: Qcow2Header, file: HostFile,
                                     fileSize: UInt64) throws(DiskError) -> [UInt64: [UInt64]] {
        var tables: [UInt64: [UInt64]] = [:]
        let cluster = header.clusterSize
        for l1Entry in l1 where l1Entry & Qcow2Entry.offsetMask != 0 {
            let offset = l1Entry & Qcow2Entry.offsetMask
            if tables[offset] != nil { continue }
            let table = try readTable(file, at: offset, count: Int(cluster / 8))
            for (index, entry) in table.enumerated() where entry != 0 {
                let bad: Bool
                if entry & Qcow2Entry.compressed != 0 {
                    let extent = Qcow2Entry.compressedExtent(entry, clusterBits: header.clusterBits)
                    bad = entry & Qcow2Entry.copied != 0 || extent.offset >= fileSize
                } else {
                    let host = entry & Qcow2Entry.offsetMask
                    bad = entry & Qcow2Entry.l2Reserved != 0 || host % cluster != 0 || (host != 0 && host >= fileSize)
                        || (header.version == 2 && entry & Qcow2Entry.zero != 0)
                }
                guard !bad else {
                    throw .corrupt(path: file.path,
                                   reason: "L2 entry \(index) of the table at \(offset) (0x\(String(entry, radix: 16))) is invalid")
                }
            }
            tables[offset] = table
        }
        return tables
    }

    static func readTable(_ file: HostFile, at offset: UInt64, count: Int) throws(DiskError) -> [UInt64] {
        let bytes = try file.readBytes(at: offset, count: count * 8)
        return (0..<count).map { BigEndian.u64(bytes, $0 * 8) }
    }

    public static let maxChainDepth = 16

    private static func openBacking(_ header: Qcow2Header, imagePath: String, chain: [String],
                                    from backingFiles: BackingFiles) throws(DiskError) -> (any DiskImage)? {
        guard let name = header.backingFile else { return nil }
        if case .handedOver(let files) = backingFiles {
            return try openHandedOverBacking(header, name: name, imagePath: imagePath, chain: chain, files: files)
        }
        let resolved = name.hasPrefix("/") ? name : directory(of: imagePath) + "/" + name
        let me = canonicalPath(imagePath)
        let chain = chain + [me]
        let target = canonicalPath(resolved)
        guard !chain.contains(target) else {
            throw .backingChain(path: imagePath, reason: "\(name) is already in the chain (a loop)")
        }
        guard chain.count < maxChainDepth else {
            throw .backingChain(path: imagePath, reason: "the chain is deeper than \(maxChainDepth) images")
        }
        let format = header.backingFormat ?? (try? probeFormat(resolved)) ?? "raw"
        switch format {
        case "raw": return try RawImage(path: resolved, readOnly: true)
        case "qcow2": return try Qcow2Image(path: resolved, readOnly: true, chain: chain)
        default: throw .backingChain(path: imagePath, reason: "backing format \(format) is not supported")
        }
    }

    /// The backing file as the next handed-over descriptor: no path is resolved or opened. The chain is as deep as
    /// what was handed over, and still no deeper than `maxChainDepth`.
    private static func openHandedOverBacking(_ header: Qcow2Header, name: String, imagePath: String, chain: [String],
                                              files: ArraySlice<HandedOverDiskFile>) throws(DiskError) -> any DiskImage {
        guard let next = files.first else {
            throw .backingChain(path: imagePath, reason: "its backing file \(name) was not handed over")
        }
        let chain = chain + [imagePath]
        guard chain.count < maxChainDepth else {
            throw .backingChain(path: imagePath, reason: "the chain is deeper than \(maxChainDepth) images")
        }
        let file = try HostFile(handedOver: next, readOnly: true)
        let format: String
        if let named = header.backingFormat { format = named } else { format = try probeFormat(file) }
        switch format {
        case "raw": return try RawImage(file: file)
        case "qcow2":
            return try Qcow2Image(file: file, readOnly: true, chain: chain, backingFiles: .handedOver(files.dropFirst()))
        default: throw .backingChain(path: imagePath, reason: "backing format \(format) is not supported")
        }
    }

    static func probeFormat(_ path: String) throws(DiskError) -> String {
        try probeFormat(HostFile(path: path, readOnly: true))
    }

    static func probeFormat(_ file: HostFile) throws(DiskError) -> String {
        let magic = try file.readBytes(at: 0, count: 4)
        return BigEndian.u32(magic, 0) == Qcow2Header.magic ? "qcow2" : "raw"
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func canonicalPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    // MARK: - Mapping

    enum Mapping {
        case unallocated
        case zero(host: UInt64)
        case data(host: UInt64)
        case compressed(entry: UInt64)
    }

    func mapping(ofCluster cluster: UInt64) -> Mapping {
        let l1Index = Int(cluster / l2Entries)
        guard l1Index < l1.count else { return .unallocated }
        let tableOffset = l1[l1Index] & Qcow2Entry.offsetMask
        guard tableOffset != 0, let table = l2Tables[tableOffset] else { return .unallocated }
        let entry = table[Int(cluster % l2Entries)]
        if entry & Qcow2Entry.compressed != 0 { return .compressed(entry: entry) }
        let host = entry & Qcow2Entry.offsetMask
        if header.version == 3, entry & Qcow2Entry.zero != 0 { return .zero(host: host) }
        return host == 0 ? .unallocated : .data(host: host)
    }

    /// The guest cluster's current bytes, `within` onward, into `buffer`.
    func readCluster(_ cluster: UInt64, within: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(DiskError) {
        switch mapping(ofCluster: cluster) {
        case .data(let host):
            try file.read(into: buffer, at: host + within)
        case .zero:
            buffer.initializeMemory(as: UInt8.self, repeating: 0)
        case .compressed(let entry):
            let data = try decompress(entry)
            data.withUnsafeBytes { source in
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[Int(within)..<Int(within) + buffer.count]))
            }
        case .unallocated:
            try readBacking(into: buffer, at: cluster * clusterSize + within)
        }
    }

    func readBacking(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(DiskError) {
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        guard let backing, offset < backing.virtualSize else { return }
        let count = Int(min(UInt64(buffer.count), backing.virtualSize - offset))
        try backing.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]), at: offset)
    }

    func decompress(_ entry: UInt64) throws(DiskError) -> [UInt8] {
        let extent = Qcow2Entry.compressedExtent(entry, clusterBits: UInt32(clusterBits))
        let input = try file.readBytes(at: extent.offset, count: Int(min(extent.length, 2 * clusterSize + 512)))
        var output: [UInt8]
        do { output = try Inflate.decode(input, capacity: Int(clusterSize)) } catch {
            throw .corrupt(path: file.path, reason: "compressed cluster at \(extent.offset): \(error.reason)")
        }
        if output.count < Int(clusterSize) { output += [UInt8](repeating: 0, count: Int(clusterSize) - output.count) }
        return output
    }

    // MARK: - DiskImage

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws(DiskError) {
        try checkRange(offset: offset, length: buffer.count)
        var done = 0
        while done < buffer.count {
            let position = offset + UInt64(done)
            let within = position & (clusterSize - 1)
            let count = min(Int(clusterSize - within), buffer.count - done)
            try readCluster(position >> clusterBits, within: within,
                            into: UnsafeMutableRawBufferPointer(rebasing: buffer[done..<done + count]))
            done += count
        }
    }

    public func flush() throws(DiskError) {
        try commitMetadata()
        try file.sync()
    }

    deinit {
        // Closing without a flush still leaves the image consistent and the data reachable.
        if !file.isReadOnly { try? commitMetadata() }
    }
}
