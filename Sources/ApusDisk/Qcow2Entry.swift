/// L1 and L2 table entries (qcow2 spec, "Cluster mapping").
enum Qcow2Entry {
    static let copied: UInt64 = 1 << 63
    static let compressed: UInt64 = 1 << 62
    static let zero: UInt64 = 1
    /// Bits 9-55: a host offset.
    static let offsetMask: UInt64 = 0x00FF_FFFF_FFFF_FE00
    /// Bits that must be zero in an L1 entry, and in a standard L2 entry (the zero flag aside).
    static let l1Reserved: UInt64 = ~(copied | offsetMask)
    static let l2Reserved: UInt64 = ~(copied | compressed | offsetMask | zero)

    /// Where a compressed cluster's data lives: host offset and byte count (spec: sectors of 512 bytes).
    static func compressedExtent(_ entry: UInt64, clusterBits: UInt32) -> (offset: UInt64, length: UInt64) {
        let offsetBits = UInt64(62 - (clusterBits - 8))
        let offset = entry & ((1 << offsetBits) - 1)
        let sectors = (entry >> offsetBits) & ((1 << UInt64(clusterBits - 8)) - 1)
        return (offset, (sectors + 1) * 512 - (offset & 511))
    }
}
