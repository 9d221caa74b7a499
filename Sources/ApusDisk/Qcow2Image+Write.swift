/// Writing: in place where a cluster is this image's own, otherwise a new cluster holding the old contents with the
/// new bytes over them. Ordering per request: new L2 tables and data clusters and their refcounts are written, then
/// one flush, then the L2 entries and L1 entries that point at them.
extension Qcow2Image {
    private struct PendingEntry {
        var tableOffset: UInt64
        var index: Int
        var entry: UInt64
        /// A compressed cluster the new entry replaces, released once nothing points at it.
        var released: UInt64?
    }

    public func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(DiskError) {
        guard !isReadOnly else { throw .readOnly(path: file.path) }
        try checkRange(offset: offset, length: buffer.count)
        var pending: [PendingEntry] = []
        var newL1: [Int: UInt64] = [:]
        var done = 0
        while done < buffer.count {
            let position = offset + UInt64(done)
            let within = position & (clusterSize - 1)
            let count = min(Int(clusterSize - within), buffer.count - done)
            let piece = UnsafeRawBufferPointer(rebasing: buffer[done..<done + count])
            let cluster = position >> clusterBits
            let current = mapping(ofCluster: cluster)
            if case .data(let host) = current {
                try file.write(piece, at: host + within)
            } else {
                // Build the whole cluster: what the guest saw there, with the new bytes over it.
                var contents = [UInt8](repeating: 0, count: Int(clusterSize))
                try contents.withMutableBytes { whole throws(DiskError) in
                    if count < Int(clusterSize) { try readCluster(cluster, within: 0, into: whole) }
                    UnsafeMutableRawBufferPointer(rebasing: whole[Int(within)..<Int(within) + count]).copyMemory(from: piece)
                }
                let tableOffset = try l2Table(forCluster: cluster, newL1: &newL1)
                var host: UInt64
                var released: UInt64?
                switch current {
                case .zero(let preallocated) where preallocated != 0:
                    host = preallocated  // a preallocated zero cluster is ours already
                case .compressed(let entry):
                    host = try allocateCluster()
                    released = entry
                default:
                    host = try allocateCluster()
                }
                try file.write(contents, at: host)
                pending.append(PendingEntry(tableOffset: tableOffset, index: Int(cluster % l2Entries),
                                            entry: host | Qcow2Entry.copied, released: released))
            }
            done += count
        }
        guard !pending.isEmpty || !newL1.isEmpty else { return }
        try file.sync()
        for item in pending { try setL2Entry(table: item.tableOffset, index: item.index, item.entry) }
        for (index, entry) in newL1.sorted(by: { $0.key < $1.key }) {
            l1[index] = entry
            try file.write(BigEndian.bytes(entry), at: header.l1TableOffset + UInt64(index) * 8)
        }
        for case let entry? in pending.map(\.released) { try releaseCompressed(entry) }
    }

    public func discard(offset: UInt64, length: UInt64) throws(DiskError) {
        guard !isReadOnly else { throw .readOnly(path: file.path) }
        guard length <= UInt64(Int.max) else { throw .outOfRange(offset: offset, length: length, size: virtualSize) }
        try checkRange(offset: offset, length: Int(length))
        // Only whole clusters are given back; the rest of the range keeps its bytes (discard is a hint).
        let first = (offset + clusterSize - 1) >> clusterBits
        let end = (offset + length) >> clusterBits
        guard first < end else { return }
        // With a backing file an empty entry would show the backing data: a version 3 zero flag hides it.
        let replacement: UInt64? = backing == nil ? 0 : (header.version == 3 ? Qcow2Entry.zero : nil)
        guard let replacement else { return }
        var released: [Mapping] = []
        for cluster in first..<end {
            let l1Index = Int(cluster / l2Entries)
            guard l1Index < l1.count else { continue }
            let tableOffset = l1[l1Index] & Qcow2Entry.offsetMask
            guard tableOffset != 0, let table = l2Tables[tableOffset] else { continue }
            let index = Int(cluster % l2Entries)
            guard table[index] != replacement else { continue }
            released.append(mapping(ofCluster: cluster))
            try setL2Entry(table: tableOffset, index: index, replacement)
        }
        guard !released.isEmpty else { return }
        // Nothing may point at a cluster when its refcount drops to zero.
        try file.sync()
        for old in released {
            switch old {
            case .data(let host), .zero(let host) where host != 0:
                try changeRefcount(ofHost: host, by: -1)
                if try refcount(ofHost: host) == 0 { file.punchHole(offset: host, length: clusterSize) }
            case .compressed(let entry):
                try releaseCompressed(entry)
            default:
                break
            }
        }
    }

    // MARK: - Tables

    /// The L2 table covering `cluster`, allocating an empty one (linked into L1 later, after the flush).
    private func l2Table(forCluster cluster: UInt64, newL1: inout [Int: UInt64]) throws(DiskError) -> UInt64 {
        let l1Index = Int(cluster / l2Entries)
        let existing = (newL1[l1Index] ?? l1[l1Index]) & Qcow2Entry.offsetMask
        if existing != 0 { return existing }
        let table = try allocateCluster()
        try file.write([UInt8](repeating: 0, count: Int(clusterSize)), at: table)
        l2Tables[table] = [UInt64](repeating: 0, count: Int(l2Entries))
        newL1[l1Index] = table | Qcow2Entry.copied
        return table
    }

    private func setL2Entry(table: UInt64, index: Int, _ entry: UInt64) throws(DiskError) {
        l2Tables[table]?[index] = entry
        try file.write(BigEndian.bytes(entry), at: table + UInt64(index) * 8)
    }

    private func releaseCompressed(_ entry: UInt64) throws(DiskError) {
        let extent = Qcow2Entry.compressedExtent(entry, clusterBits: UInt32(clusterBits))
        var host = extent.offset & ~(clusterSize - 1)
        while host < extent.offset + extent.length {
            if try refcount(ofHost: host) > 0 { try changeRefcount(ofHost: host, by: -1) }
            host += clusterSize
        }
    }

    // MARK: - Refcounts

    /// A new cluster at the end of the file with refcount 1.
    func allocateCluster() throws(DiskError) -> UInt64 {
        let host = fileEnd
        fileEnd += clusterSize
        try setRefcount(ofHost: host, 1)
        return host
    }

    func refcount(ofHost host: UInt64) throws(DiskError) -> UInt64 {
        let cluster = host >> clusterBits
        let block = Int(cluster / refcountsPerBlock)
        guard block < refcountTable.count, refcountTable[block] != 0 else { return 0 }
        let at = refcountTable[block] + (cluster % refcountsPerBlock) * UInt64(refcountBytes)
        let bytes = try file.readBytes(at: at, count: refcountBytes)
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }

    func changeRefcount(ofHost host: UInt64, by delta: Int) throws(DiskError) {
        let current = try refcount(ofHost: host)
        let (next, overflow) = delta < 0 ? current.subtractingReportingOverflow(UInt64(-delta))
                                         : current.addingReportingOverflow(UInt64(delta))
        guard !overflow else { throw .corrupt(path: file.path, reason: "refcount of cluster \(host) over/underflows") }
        try setRefcount(ofHost: host, next)
    }

    func setRefcount(ofHost host: UInt64, _ value: UInt64) throws(DiskError) {
        let cluster = host >> clusterBits
        let block = Int(cluster / refcountsPerBlock)
        guard block < refcountTable.count else {
            throw .unsupported(path: file.path, feature: "growing the refcount table (the image outgrew it)")
        }
        if refcountTable[block] == 0 {
            // A new refcount block, placed at the end of the file and counted in itself when it covers itself.
            let blockHost = fileEnd
            fileEnd += clusterSize
            try file.write([UInt8](repeating: 0, count: Int(clusterSize)), at: blockHost)
            refcountTable[block] = blockHost
            try setRefcount(ofHost: blockHost, 1)
            try file.write(BigEndian.bytes(blockHost), at: header.refcountTableOffset + UInt64(block) * 8)
        }
        let at = refcountTable[block] + (cluster % refcountsPerBlock) * UInt64(refcountBytes)
        var bytes = [UInt8](repeating: 0, count: refcountBytes)
        for i in 0..<refcountBytes { bytes[i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * (refcountBytes - 1 - i))) }
        try file.write(bytes, at: at)
    }
}
