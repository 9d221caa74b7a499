/// Guest-physical memory: a set of non-overlapping regions with bounds-checked typed access.
///
/// Every write made through this type is recorded in its region's `hostWrites` after the bytes are in place: that is
/// how the software CPU learns which decoded code a device overwrote, and how dirty-page tracking sees the writes
/// KVM's log does not. So there is no writable host pointer without a record: `hostPointer` is read-only, and
/// `withWritableBytes` records the range when its body returns. Reads and writes are little-endian, as on x86.
public final class GuestMemory: @unchecked Sendable {
    // @unchecked: `regions` is immutable after init; see MemoryRegion.
    public let regions: [MemoryRegion]

    /// Creates memory from `(start, size)` pairs; regions must not overlap.
    public init(layout: [(start: GuestAddress, size: UInt64)]) throws {
        var regions: [MemoryRegion] = []
        for entry in layout.sorted(by: { $0.start < $1.start }) {
            let region = try MemoryRegion(start: entry.start, size: entry.size)
            if let previous = regions.last, previous.range.overlaps(region.range) {
                throw GuestMemoryError.overlappingRegions(previous.range, region.range)
            }
            regions.append(region)
        }
        self.regions = regions
    }

    /// A single region of `size` bytes at guest-physical 0.
    public convenience init(size: UInt64) throws {
        try self.init(layout: [(GuestAddress(0), size)])
    }

    /// Total bytes of RAM.
    public var size: UInt64 { regions.reduce(0) { $0 + $1.range.size } }

    public func region(containing address: GuestAddress, length: Int = 1) -> (MemoryRegion, UInt64)? {
        for region in regions {
            if let offset = region.offset(of: address, length: length) { return (region, offset) }
        }
        return nil
    }

    /// Whether `[address, address + length)` lies inside a single region.
    public func contains(_ address: GuestAddress, length: Int) -> Bool {
        region(containing: address, length: length) != nil
    }

    /// A read-only host pointer to `length` bytes at `address`; throws if they do not lie inside one region.
    public func hostPointer(for address: GuestAddress, length: Int) throws -> UnsafeRawPointer {
        let (region, offset) = try locate(address, length: length)
        return UnsafeRawPointer(region.hostBase + Int(offset))
    }

    /// Lends `body` the `count` bytes at `address` for writing in place (a device filling a guest buffer straight
    /// from a host read), then records them as written, whether or not `body` throws (it may have written part).
    public func withWritableBytes<Result>(at address: GuestAddress, count: Int,
                                          _ body: (UnsafeMutableRawBufferPointer) throws -> Result) throws -> Result {
        let (region, offset) = try locate(address, length: count)
        defer { region.hostWrites.record(offset: offset, length: count) }
        return try body(UnsafeMutableRawBufferPointer(start: region.hostBase + Int(offset), count: count))
    }

    public func read<T: FixedWidthInteger>(_ type: T.Type, at address: GuestAddress) throws -> T {
        let pointer = try hostPointer(for: address, length: MemoryLayout<T>.size)
        return T(littleEndian: pointer.loadUnaligned(as: T.self))
    }

    public func write<T: FixedWidthInteger>(_ value: T, at address: GuestAddress) throws {
        let (region, offset) = try locate(address, length: MemoryLayout<T>.size)
        (region.hostBase + Int(offset)).storeBytes(of: value.littleEndian, as: T.self)
        region.hostWrites.record(offset: offset, length: MemoryLayout<T>.size)
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at address: GuestAddress) throws {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        let pointer = try hostPointer(for: address, length: buffer.count)
        base.copyMemory(from: pointer, byteCount: buffer.count)
    }

    public func readBytes(at address: GuestAddress, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { try read(into: $0, at: address) }
        return bytes
    }

    public func write(_ bytes: UnsafeRawBufferPointer, at address: GuestAddress) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        let (region, offset) = try locate(address, length: bytes.count)
        (region.hostBase + Int(offset)).copyMemory(from: base, byteCount: bytes.count)
        region.hostWrites.record(offset: offset, length: bytes.count)
    }

    public func write(_ bytes: some Collection<UInt8>, at address: GuestAddress) throws {
        try Array(bytes).withUnsafeBytes { try write($0, at: address) }
    }

    public func fill(_ value: UInt8, at address: GuestAddress, count: Int) throws {
        guard count > 0 else { return }
        let (region, offset) = try locate(address, length: count)
        (region.hostBase + Int(offset)).initializeMemory(as: UInt8.self, repeating: value, count: count)
        region.hostWrites.record(offset: offset, length: count)
    }

    private func locate(_ address: GuestAddress, length: Int) throws -> (MemoryRegion, UInt64) {
        guard let found = region(containing: address, length: length) else {
            throw GuestMemoryError.outOfBounds(address: address, length: length)
        }
        return found
    }
}
