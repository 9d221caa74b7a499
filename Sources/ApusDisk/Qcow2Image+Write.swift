/// Writing: in place where a cluster is this image's own, otherwise a new cluster holding the old contents with the
/// new bytes over them. New L2 tables, data clusters and their refcounts go to the file at once; the L2 and L1 entries
/// that point at them wait in memory for `commitMetadata()` (a flush), which syncs, writes them, and syncs again.
extension Qcow2Image {
    public func write(_ buffer: UnsafeRawBufferPointer, at offset: UInt64) throws(DiskError) {
        guard !isReadOnly else { throw .readOnly(path: file.path) }
        try checkRange(offset: offset, length: buffer.count)
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
                let tableOffset = try l2Table(forCluster: cluster)
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
                if count == Int(clusterSize) {
                    try file.write(piece, at: host)
                } else {
                    // The whole cluster: what the guest saw there, with the new bytes over it.
                    var contents = [UInt8](repeating: 0, count: Int(clusterSize))
                    try contents.withMutableBytes { whole throws(DiskError) in
                        try readCluster(cluster, within: 0, into: whole)
                        UnsafeMutableRawBufferPointer(rebasing: whole[Int(within)..<Int(within) + count])
                            .copyMemory(from: piece)
                    }
                    try file.write(contents, at: host)
                }
                let index = Int(cluster % l2Entries)
                l2Tables[tableOffset]?[index] = host | Qcow2Entry.copied
                pendingL2[tableOffset + UInt64(index) * 8] = host | Qcow2Entry.copied
                if let released { pendingReleases.append(released) }
            }
            done += count
        }
        if pendingL2.count + pendingL1.count > Self.maxPendingEntries { try commitMetadata() }
    }

    /// Makes pending mappings durable in qcow2's order: data and refcounts synced, then L2 entries, then L1 entries,
    /// synced; only then are replaced compressed clusters released.
    func commitMetadata() throws(DiskError) {
        guard !pendingL2.isEmpty || !pendingL1.isEmpty || !pendingReleases.isEmpty else { return }
        try file.sync()
        for (position, entry) in pendingL2.sorted(by: { $0.key < $1.key }) {
            try file.write(BigEndian.bytes(entry), at: position)
        }
        for (index, entry) in pendingL1.sorted(by: { $0.key < $1.key }) {
            try file.write(BigEndian.bytes(entry), at: header.l1TableOffset + UInt64(index) * 8)
        }
        pendingL2 = [:]
        pendingL1 = [:]
        try file.sync()
        let releases = pendingReleases
        pendingReleases = []
        for entry in releases { try releaseCompressed(entry) }
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
            case .data(let host):
                try release(host: host)
            case .zero(let host) where host != 0:
                try release(host: host)
            case .compressed(let entry):
                try releaseCompressed(entry)
            default:
                break
            }
        }
    }

    /// Drops one reference to a data cluster; the file gives the space back when none is left.
    private func release(host: UInt64) throws(DiskError) {
        try changeRefcount(ofHost: host, by: -1)
        if try refcount(ofHost: host) == 0 { file.punchHole(offset: host, length: clusterSize) }
    }

    // MARK: - Tables

    /// The L2 table covering `cluster`, allocating an empty one (linked into the file's L1 at the next commit).
    private func l2Table(forCluster cluster: UInt64) throws(DiskError) -> UInt64 {
        let l1Index = Int(cluster / l2Entries)
        let existing = l1[l1Index] & Qcow2Entry.offsetMask
        if existing != 0 { return existing }
        let table = try allocateCluster()
        try file.write([UInt8](repeating: 0, count: Int(clusterSize)), at: table)
        l2Tables[table] = [UInt64](repeating: 0, count: Int(l2Entries))
        l1[l1Index] = table | Qcow2Entry.copied
        pendingL1[l1Index] = table | Qcow2Entry.copied
        return table
    }

    /// Writes an entry now (discard), superseding a pending one for the same slot.
    private func setL2Entry(table: UInt64, index: Int, _ entry: UInt64) throws(DiskError) {
        l2Tables[table]?[index] = entry
        pendingL2[table + UInt64(index) * 8] = nil
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
