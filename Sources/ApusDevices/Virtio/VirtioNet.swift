public import ApusCore

/// virtio-net (virtio 1.x 5.1) with one receive and one transmit queue, a MAC address in configuration space and no
/// offloads: every frame travels whole, behind the 12-byte virtio_net_hdr that VERSION_1 prescribes.
///
/// Transmitted frames go to `transmit` (a host backend such as a TAP) on the notifying thread. Received frames wait in
/// a bounded backlog until the driver has posted receive buffers; `receiveRoom` tells a host reader whether it may
/// read another frame, and `roomAvailable` is called when room appears again, so the reader waits instead of the
/// device dropping frames.
public final class VirtioNet: VirtioDeviceModel {
    public enum Queue {
        public static let receive = 0
        public static let transmit = 1
    }

    public enum Feature {
        public static let mac: UInt64 = 1 << 5
        public static let status: UInt64 = 1 << 16
    }

    /// struct virtio_net_hdr_v1: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset, num_buffers.
    public static let headerSize = 12
    /// The largest frame carried: a 64 KiB IP packet plus an Ethernet header with a VLAN tag.
    public static let maxFrameSize = 65_536 + 18
    /// Received frames held for the guest at most.
    public static let receiveBacklogLimit = 256

    /// What the device counts, for the host's logs and tests.
    public struct Counters: Equatable, Sendable {
        public var transmittedFrames = 0
        public var receivedFrames = 0
        /// Frames larger than the receive buffer the driver posted for them, or than `maxFrameSize`.
        public var oversizedFrames = 0
    }

    public let mac: [UInt8]
    public let maxQueueSize: UInt16
    public private(set) var counters = Counters()
    private let transmit: ([UInt8]) -> Void
    private var backlog: [[UInt8]] = []
    private var backlogStart = 0
    private var scratch = [UInt8](repeating: 0, count: VirtioNet.headerSize + VirtioNet.maxFrameSize)
    /// Called (under the caller's lock) when the backlog had been full and has room again.
    public var roomAvailable: (@Sendable () -> Void)?

    public init(mac: [UInt8], queueSize: UInt16 = 256, transmit: @escaping ([UInt8]) -> Void) {
        precondition(mac.count == 6, "a MAC address has 6 bytes")
        self.mac = mac
        maxQueueSize = queueSize
        self.transmit = transmit
    }

    public var deviceType: UInt16 { 1 }
    public var queueCount: Int { 2 }
    public var pciClassCode: UInt32 { 0x02_0000 }  // Ethernet controller
    public var offeredFeatures: UInt64 {
        VirtioFeature.version1 | VirtioFeature.indirectDescriptors | VirtioFeature.eventIndex
            | Feature.mac | Feature.status
    }

    /// struct virtio_net_config: mac[6], status (LINK_UP: the backend is attached for the machine's lifetime).
    public func readConfig(offset: Int, size: Int) -> UInt64 {
        let layout = mac + [1, 0]
        guard offset >= 0, size <= 8, offset + size <= layout.count else { return 0 }
        var value: UInt64 = 0
        for i in 0..<size { value |= UInt64(layout[offset + i]) << (8 * UInt64(i)) }
        return value
    }

    public func writeConfig(offset: Int, size: Int, value: UInt64) {}  // VIRTIO_NET_F_CTRL_MAC_ADDR is not offered
    public func activate(features: UInt64) {}

    public func reset() {
        let wasFull = receiveRoom == 0
        backlog = []
        backlogStart = 0
        if wasFull { roomAvailable?() }
    }

    // MARK: - Host side

    public var pendingFrames: Int { backlog.count - backlogStart }
    /// How many frames `enqueueReceived` accepts now.
    public var receiveRoom: Int { Self.receiveBacklogLimit - pendingFrames }

    /// Holds a frame from the host for the guest; false when the backlog is full (the frame is not taken).
    /// Serve the receive queue afterwards.
    @discardableResult
    public func enqueueReceived(_ frame: [UInt8]) -> Bool {
        guard receiveRoom > 0 else { return false }
        guard frame.count <= Self.maxFrameSize else {
            counters.oversizedFrames += 1
            return true
        }
        backlog.append(frame)
        return true
    }

    // MARK: - Queues

    public func process(queue index: Int, _ queue: inout SplitVirtqueue,
                        memory: GuestMemory) throws(VirtqueueError) -> Bool {
        index == Queue.receive ? try receive(&queue, memory) : try transmitAll(&queue, memory)
    }

    private func receive(_ queue: inout SplitVirtqueue, _ memory: GuestMemory) throws(VirtqueueError) -> Bool {
        let wasFull = receiveRoom == 0
        var published = false
        while pendingFrames > 0, let chain = try queue.pop(from: memory) {
            guard chain.readable.isEmpty else { throw .badRequest("a receive buffer is driver-readable") }
            let frame = backlog[backlogStart]
            backlog[backlogStart] = []
            backlogStart += 1
            var written: UInt32 = 0
            if chain.writableLength >= UInt64(Self.headerSize + frame.count) {
                // No offloads: flags, GSO type and checksum fields stay zero; one buffer (num_buffers = 1).
                var packet = [UInt8](repeating: 0, count: Self.headerSize)
                packet[10] = 1
                packet += frame
                var cursor = GuestBufferCursor(chain.writable)
                written = UInt32(packet.withUnsafeBytes { (try? cursor.write($0, to: memory)) ?? 0 })
                counters.receivedFrames += 1
            } else {
                counters.oversizedFrames += 1
            }
            try queue.pushUsed(head: chain.head, writtenLength: written, to: memory)
            published = true
        }
        if backlogStart == backlog.count {
            backlog = []
            backlogStart = 0
        } else if backlogStart >= Self.receiveBacklogLimit {
            backlog.removeFirst(backlogStart)
            backlogStart = 0
        }
        if wasFull && receiveRoom > 0 { roomAvailable?() }
        return published
    }

    private func transmitAll(_ queue: inout SplitVirtqueue, _ memory: GuestMemory) throws(VirtqueueError) -> Bool {
        var published = false
        while let chain = try queue.pop(from: memory) {
            guard chain.writable.isEmpty else { throw .badRequest("a transmit buffer is device-writable") }
            guard chain.readableLength >= UInt64(Self.headerSize) else {
                throw .badRequest("a transmit buffer is shorter than the virtio-net header")
            }
            let length = chain.readableLength - UInt64(Self.headerSize)
            if length > UInt64(Self.maxFrameSize) {
                counters.oversizedFrames += 1
            } else if length > 0 {
                var cursor = GuestBufferCursor(chain.readable)
                let copied = scratch.withUnsafeMutableBytes { bytes in
                    (try? cursor.read(into: UnsafeMutableRawBufferPointer(
                        rebasing: bytes[0..<Self.headerSize + Int(length)]), from: memory)) ?? 0
                }
                if copied == Self.headerSize + Int(length) {
                    transmit(Array(scratch[Self.headerSize..<copied]))
                    counters.transmittedFrames += 1
                }
            }
            try queue.pushUsed(head: chain.head, writtenLength: 0, to: memory)
            published = true
        }
        return published
    }
}
