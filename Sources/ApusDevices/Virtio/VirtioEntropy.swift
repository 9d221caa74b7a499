public import ApusCore
#if canImport(Glibc)
import Glibc
#endif

/// virtio-rng (virtio 1.x 5.4): one request queue whose device-writable buffers the device fills with host entropy.
///
/// A request is served up to `maxBytesPerRequest` bytes, so one chain cannot make the notifying thread copy an
/// unbounded amount; the driver simply asks again. A chain with driver-readable buffers breaks the protocol
/// (the queue carries device-writable buffers only) and puts the device into DEVICE_NEEDS_RESET.
public final class VirtioEntropy: VirtioDeviceModel {
    public static let maxBytesPerRequest = 64 * 1024

    /// Fills a buffer with random bytes; returns false when the host cannot provide them.
    public typealias Source = (UnsafeMutableRawBufferPointer) -> Bool

    public let maxQueueSize: UInt16
    private let source: Source
    private let log: (@Sendable (String) -> Void)?
    private var scratch = [UInt8](repeating: 0, count: VirtioEntropy.maxBytesPerRequest)
    private var sourceFailed = false

    /// `source` defaults to the host kernel's random pool.
    public init(queueSize: UInt16 = 64, source: Source? = nil, log: (@Sendable (String) -> Void)? = nil) {
        maxQueueSize = queueSize
        self.source = source ?? VirtioEntropy.hostRandom
        self.log = log
    }

    public var deviceType: UInt16 { 4 }
    public var queueCount: Int { 1 }
    public var pciClassCode: UInt32 { 0xFF_0000 }
    public var offeredFeatures: UInt64 {
        VirtioFeature.version1 | VirtioFeature.indirectDescriptors | VirtioFeature.eventIndex
    }

    public func readConfig(offset: Int, size: Int) -> UInt64 { 0 }  // virtio-rng has no configuration space
    public func writeConfig(offset: Int, size: Int, value: UInt64) {}
    public func activate(features: UInt64) {}
    public func reset() {}

    public func process(queue index: Int, _ queue: inout SplitVirtqueue,
                        memory: GuestMemory) throws(VirtqueueError) -> Bool {
        var published = false
        while let chain = try queue.pop(from: memory) {
            guard chain.readable.isEmpty else { throw .badRequest("an entropy request has driver-readable buffers") }
            let count = Int(min(chain.writableLength, UInt64(Self.maxBytesPerRequest)))
            var written = 0
            if count > 0 {
                written = scratch.withUnsafeMutableBytes { bytes in
                    let slice = UnsafeMutableRawBufferPointer(rebasing: bytes[0..<count])
                    guard source(slice) else { return 0 }
                    var cursor = GuestBufferCursor(chain.writable)
                    return (try? cursor.write(UnsafeRawBufferPointer(slice), to: memory)) ?? 0
                }
                if written == 0 && !sourceFailed {
                    sourceFailed = true
                    log?("virtio-rng: the host gave no entropy; requests complete empty")
                }
            }
            try queue.pushUsed(head: chain.head, writtenLength: UInt32(written), to: memory)
            published = true
        }
        return published
    }

    /// The host kernel's urandom pool (what getrandom(2) reads; Glibc's Swift module does not export getrandom):
    /// it never blocks once the host's pool is initialised, which it is long before a VMM runs.
    static func hostRandom(_ buffer: UnsafeMutableRawBufferPointer) -> Bool {
        let descriptor = SystemCall.retryingInterrupts { open("/dev/urandom", O_RDONLY | O_CLOEXEC) }
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var filled = 0
        while filled < buffer.count {
            let got = SystemCall.retryingInterrupts { read(descriptor, buffer.baseAddress! + filled, buffer.count - filled) }
            guard got > 0 else { return false }
            filled += got
        }
        return true
    }
}
