import ApusCore

/// The loaders' way into guest memory: every range is checked first and any failure becomes a `BootError` that
/// names what was being placed, so no `GuestMemoryError` (or a trap on a huge size) escapes a loader.
extension GuestMemory {
    /// Whether `[address, address + size)` lies inside one RAM region.
    func holds(_ address: UInt64, size: UInt64) -> Bool {
        guard let length = Int(exactly: size) else { return false }
        return contains(GuestAddress(address), length: length)
    }

    /// One past the last byte of RAM that is contiguous with `address`, or `address` itself if it is not RAM.
    func contiguousEnd(from address: UInt64) -> UInt64 {
        guard let (region, _) = region(containing: GuestAddress(address)) else { return address }
        return region.range.end
    }

    /// Throws `.memoryTooSmall` unless `[address, address + size)` is RAM.
    func require(_ address: UInt64, size: UInt64, for what: String) throws {
        guard holds(address, size: size) else {
            let (end, overflow) = address.addingReportingOverflow(size)
            throw BootError.memoryTooSmall(what: what, needed: overflow ? .max : end, available: self.size)
        }
    }

    func place(_ bytes: some Collection<UInt8>, at address: UInt64, what: String) throws {
        try require(address, size: UInt64(bytes.count), for: what)
        do { try write(bytes, at: GuestAddress(address)) } catch { throw placementFailure(what, address, bytes.count) }
    }

    func placeZeros(at address: UInt64, count: UInt64, what: String) throws {
        guard count > 0 else { return }
        try require(address, size: count, for: what)
        guard let length = Int(exactly: count) else { throw placementFailure(what, address, Int.max) }
        do { try fill(0, at: GuestAddress(address), count: length) } catch {
            throw placementFailure(what, address, length)
        }
    }

    /// Little-endian 64-bit words, as page-table and descriptor entries are stored.
    func placeWords(_ words: [UInt64], at address: UInt64, what: String) throws {
        try words.map(\.littleEndian).withUnsafeBytes { try place($0, at: address, what: what) }
    }

    private func placementFailure(_ what: String, _ address: UInt64, _ count: Int) -> BootError {
        let (end, overflow) = address.addingReportingOverflow(UInt64(count))
        return .memoryTooSmall(what: what, needed: overflow ? .max : end, available: size)
    }
}
