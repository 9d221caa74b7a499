public import ApusCore
public import ApusDisk

/// virtio-blk (virtio 1.x 5.2) over a `DiskImage`: read, write, flush, discard, GET_ID, read-only disks.
///
/// Requests are served when the driver notifies, on the notifying thread. A request the disk cannot serve (an I/O
/// error, a range beyond the disk, a write to a read-only disk) completes with an error status; a request whose
/// shape breaks the protocol (no status byte, a short header) is a driver error and puts the device into
/// DEVICE_NEEDS_RESET through the transport.
public final class VirtioBlock: VirtioDeviceModel {
    public enum Feature {
        public static let sizeMax: UInt64 = 1 << 1
        public static let segMax: UInt64 = 1 << 2
        public static let readOnly: UInt64 = 1 << 5
        public static let blockSize: UInt64 = 1 << 6
        public static let flush: UInt64 = 1 << 9
        public static let discard: UInt64 = 1 << 13
    }

    public enum RequestType {
        public static let read: UInt32 = 0
        public static let write: UInt32 = 1
        public static let flush: UInt32 = 4
        public static let getID: UInt32 = 8
        public static let discard: UInt32 = 11
    }

    public enum Status {
        public static let ok: UInt8 = 0
        public static let ioError: UInt8 = 1
        public static let unsupported: UInt8 = 2
    }

    public static let sectorSize: UInt64 = 512
    /// The largest single request the device accepts (Linux's default max_hw_sectors is far below this).
    public static let maxRequestBytes: UInt64 = 32 << 20
    static let maxDiscardSectors: UInt32 = 1 << 22

    public let disk: any DiskImage
    public let serial: [UInt8]
    public let maxQueueSize: UInt16
    private let log: (@Sendable (String) -> Void)?
    private var features: UInt64 = 0
    private var scratch: [UInt8] = []

    /// `serial` is what GET_ID returns (at most 20 bytes are used).
    public init(disk: any DiskImage, serial: String, queueSize: UInt16 = 256, log: (@Sendable (String) -> Void)? = nil) {
        self.disk = disk
        self.serial = Array(serial.utf8.prefix(20))
        self.maxQueueSize = queueSize
        self.log = log
    }

    public var deviceType: UInt16 { 2 }
    public var queueCount: Int { 1 }
    public var pciClassCode: UInt32 { 0x01_8000 }

    public var offeredFeatures: UInt64 {
        var offered = VirtioFeature.version1 | VirtioFeature.indirectDescriptors | VirtioFeature.eventIndex
            | Feature.segMax | Feature.blockSize | Feature.flush | Feature.sizeMax
        offered |= disk.isReadOnly ? Feature.readOnly : Feature.discard
        return offered
    }

    public var capacitySectors: UInt64 { disk.virtualSize / Self.sectorSize }

    // MARK: - Configuration space (struct virtio_blk_config)

    public func readConfig(offset: Int, size: Int) -> UInt64 {
        var layout = [UInt8](repeating: 0, count: 64)
        func put<T: FixedWidthInteger>(_ value: T, _ at: Int) {
            for i in 0..<MemoryLayout<T>.size { layout[at + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
        }
        put(capacitySectors, 0)
        put(UInt32(1 << 20), 8)                          // size_max: one segment up to 1 MiB
        put(UInt32(maxQueueSize - 2), 12)                // seg_max: header and status take two descriptors
        put(UInt32(Self.sectorSize), 20)                 // blk_size
        put(UInt16(1), 34)                               // num_queues
        put(Self.maxDiscardSectors, 36)                  // max_discard_sectors
        put(UInt32(1), 40)                               // max_discard_seg
        put(UInt32(1), 44)                               // discard_sector_alignment
        guard offset >= 0, size <= 8, offset + size <= layout.count else { return 0 }
        var value: UInt64 = 0
        for i in 0..<size { value |= UInt64(layout[offset + i]) << (8 * UInt64(i)) }
        return value
    }

    public func writeConfig(offset: Int, size: Int, value: UInt64) {}  // writeback (CONFIG_WCE) is not offered

    public func activate(features: UInt64) { self.features = features }
    public func reset() { features = 0 }

    // MARK: - Requests

    public func process(queue index: Int, _ queue: inout SplitVirtqueue,
                        memory: GuestMemory) throws(VirtqueueError) -> Bool {
        var published = false
        while let chain = try queue.pop(from: memory) {
            let written = try serve(chain, memory: memory)
            try queue.pushUsed(head: chain.head, writtenLength: written, to: memory)
            published = true
        }
        return published
    }

    /// Serves one request; returns the bytes written into the driver's buffers (data and status).
    private func serve(_ chain: DescriptorChain, memory: GuestMemory) throws(VirtqueueError) -> UInt32 {
        guard chain.readableLength >= 16 else { throw .badRequest("the request header is shorter than 16 bytes") }
        guard chain.writableLength >= 1 else { throw .badRequest("there is no status byte") }
        var header = [UInt8](repeating: 0, count: 16)
        var readable = GuestBufferCursor(chain.readable)
        do { try header.withUnsafeMutableBytes { _ = try readable.read(into: $0, from: memory) } } catch {
            throw .badRequest("the header cannot be read")
        }
        let type = UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24
        let sector = (0..<8).reduce(UInt64(0)) { $0 | UInt64(header[8 + $1]) << (8 * UInt64($1)) }
        // The status byte is the last writable byte; data buffers are what comes before it.
        let dataOut = readable.remaining
        let dataIn = chain.writableLength - 1
        var written: UInt32 = 0
        var status: UInt8
        switch type {
        case RequestType.read:
            (status, written) = read(sector: sector, length: dataIn, into: chain.writable, memory)
        case RequestType.write:
            status = write(sector: sector, length: dataOut, from: &readable, memory)
        case RequestType.flush:
            status = flush()
        case RequestType.getID:
            (status, written) = getID(into: chain.writable, capacity: dataIn, memory)
        case RequestType.discard where !disk.isReadOnly:
            status = discard(length: dataOut, from: &readable, memory)
        default:
            status = Status.unsupported
        }
        var cursor = GuestBufferCursor(chain.writable)
        cursor.skip(Int(dataIn))
        do { try [status].withUnsafeBytes { _ = try cursor.write($0, to: memory) } } catch {
            throw .badRequest("the status byte cannot be written")
        }
        return written + 1
    }

    private func range(sector: UInt64, length: UInt64) -> UInt64? {
        guard length % Self.sectorSize == 0, length <= Self.maxRequestBytes, sector <= capacitySectors,
              length / Self.sectorSize <= capacitySectors - sector else { return nil }
        return sector * Self.sectorSize
    }

    private func read(sector: UInt64, length: UInt64, into buffers: [GuestBuffer],
                      _ memory: GuestMemory) -> (UInt8, UInt32) {
        guard let offset = range(sector: sector, length: length) else { return (Status.ioError, 0) }
        if scratch.count < Int(length) { scratch = [UInt8](repeating: 0, count: Int(length)) }
        do {
            try scratch.withUnsafeMutableBytes { bytes in
                let data = UnsafeMutableRawBufferPointer(rebasing: bytes[0..<Int(length)])
                try disk.read(into: data, at: offset)
                var cursor = GuestBufferCursor(buffers)
                try cursor.write(UnsafeRawBufferPointer(data), to: memory)
            }
        } catch {
            log?("virtio-blk: read of \(length) bytes at sector \(sector) failed: \(error)")
            return (Status.ioError, 0)
        }
        return (Status.ok, UInt32(length))
    }

    private func write(sector: UInt64, length: UInt64, from cursor: inout GuestBufferCursor,
                       _ memory: GuestMemory) -> UInt8 {
        guard !disk.isReadOnly else { return Status.ioError }
        guard let offset = range(sector: sector, length: length) else { return Status.ioError }
        if scratch.count < Int(length) { scratch = [UInt8](repeating: 0, count: Int(length)) }
        do {
            try scratch.withUnsafeMutableBytes { bytes in
                let data = UnsafeMutableRawBufferPointer(rebasing: bytes[0..<Int(length)])
                try cursor.read(into: data, from: memory)
                try disk.write(UnsafeRawBufferPointer(data), at: offset)
            }
        } catch {
            log?("virtio-blk: write of \(length) bytes at sector \(sector) failed: \(error)")
            return Status.ioError
        }
        return Status.ok
    }

    private func flush() -> UInt8 {
        do { try disk.flush() } catch {
            log?("virtio-blk: flush failed: \(error)")
            return Status.ioError
        }
        return Status.ok
    }

    private func getID(into buffers: [GuestBuffer], capacity: UInt64, _ memory: GuestMemory) -> (UInt8, UInt32) {
        var id = serial + [UInt8](repeating: 0, count: 20 - serial.count)
        id = Array(id.prefix(Int(min(capacity, 20))))
        var cursor = GuestBufferCursor(buffers)
        do { try id.withUnsafeBytes { _ = try cursor.write($0, to: memory) } } catch { return (Status.ioError, 0) }
        return (Status.ok, UInt32(id.count))
    }

    /// Discard segments: {sector u64, num_sectors u32, flags u32}, each checked against the disk.
    private func discard(length: UInt64, from cursor: inout GuestBufferCursor, _ memory: GuestMemory) -> UInt8 {
        guard length > 0, length % 16 == 0, length / 16 <= 1 else { return Status.ioError }
        var segment = [UInt8](repeating: 0, count: 16)
        do { try segment.withUnsafeMutableBytes { _ = try cursor.read(into: $0, from: memory) } } catch {
            return Status.ioError
        }
        let sector = (0..<8).reduce(UInt64(0)) { $0 | UInt64(segment[$1]) << (8 * UInt64($1)) }
        let count = (0..<4).reduce(UInt64(0)) { $0 | UInt64(segment[8 + $1]) << (8 * UInt64($1)) }
        let flags = (0..<4).reduce(UInt32(0)) { $0 | UInt32(segment[12 + $1]) << (8 * UInt32($1)) }
        guard flags & ~1 == 0, count <= UInt64(Self.maxDiscardSectors), sector <= capacitySectors,
              count <= capacitySectors - sector else { return Status.ioError }
        do { try disk.discard(offset: sector * Self.sectorSize, length: count * Self.sectorSize) } catch {
            log?("virtio-blk: discard of \(count) sectors at \(sector) failed: \(error)")
            return Status.ioError
        }
        return Status.ok
    }
}
