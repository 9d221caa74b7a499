public import ApusCore

/// virtio-net (virtio 1.x 5.1) with one receive and one transmit queue and a MAC address in configuration space.
///
/// Every frame travels behind the 12-byte virtio_net_hdr that VERSION_1 prescribes. A backend that carries that header
/// itself (`headerPassthrough`: a TAP opened with IFF_VNET_HDR) lets the device offer checksum and segmentation
/// offloads: the guest then sends and receives TCP segments of up to 64 KiB with the checksum left to the host, so a
/// bulk transfer costs the guest one packet where it would cost ~45 frames. Without it, frames travel whole and the
/// header carries nothing.
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
        /// The device handles partial checksums of transmitted packets (VIRTIO_NET_F_CSUM).
        public static let checksum: UInt64 = 1 << 0
        /// The driver handles partial checksums of received packets (VIRTIO_NET_F_GUEST_CSUM).
        public static let guestChecksum: UInt64 = 1 << 1
        public static let guestTSO4: UInt64 = 1 << 7
        public static let guestTSO6: UInt64 = 1 << 8
        public static let guestECN: UInt64 = 1 << 9
        public static let hostTSO4: UInt64 = 1 << 11
        public static let hostTSO6: UInt64 = 1 << 12
        public static let hostECN: UInt64 = 1 << 13
        public static let mac: UInt64 = 1 << 5
        public static let status: UInt64 = 1 << 16
        /// Everything a header-carrying backend makes possible.
        public static let offloads: UInt64 = checksum | guestChecksum | guestTSO4 | guestTSO6 | guestECN
            | hostTSO4 | hostTSO6 | hostECN
    }

    /// The offloads the host backend may apply to what it hands the device, from what the driver accepted: the
    /// TAP's TUNSETOFFLOAD flags (TUN_F_CSUM 1, TUN_F_TSO4 2, TUN_F_TSO6 4, TUN_F_TSO_ECN 8).
    public struct ReceiveOffloads: OptionSet, Equatable, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let checksum = ReceiveOffloads(rawValue: 1)
        public static let tso4 = ReceiveOffloads(rawValue: 2)
        public static let tso6 = ReceiveOffloads(rawValue: 4)
        public static let ecn = ReceiveOffloads(rawValue: 8)

        init(features: UInt64) {
            var offloads: ReceiveOffloads = []
            guard features & Feature.guestChecksum != 0 else { self = offloads; return }
            offloads.insert(.checksum)
            if features & Feature.guestTSO4 != 0 { offloads.insert(.tso4) }
            if features & Feature.guestTSO6 != 0 { offloads.insert(.tso6) }
            if features & Feature.guestECN != 0, !offloads.isDisjoint(with: [.tso4, .tso6]) { offloads.insert(.ecn) }
            self = offloads
        }
    }

    /// virtio_net_hdr fields the device looks at.
    enum Header {
        static let flagsOffset = 0
        static let gsoTypeOffset = 1
        static let numBuffersOffset = 10
        static let needsChecksum: UInt8 = 1
        static let dataValid: UInt8 = 2
        static let gsoTCPv4: UInt8 = 1
        static let gsoTCPv6: UInt8 = 4
        static let gsoECN: UInt8 = 0x80
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
        /// Received packets whose offloads the driver did not accept (they arrived before it chose), or shorter
        /// than their header.
        public var refusedFrames = 0
    }

    public let mac: [UInt8]
    public let maxQueueSize: UInt16
    /// The backend hands over and takes packets that start with their own virtio_net_hdr.
    public let headerPassthrough: Bool
    /// What the driver accepted at DRIVER_OK (0 before, and after a reset).
    public private(set) var negotiated: UInt64 = 0
    /// Called (under the caller's lock) when the driver's choice changes what the backend may deliver.
    public var receiveOffloadsChanged: (@Sendable (ReceiveOffloads) -> Void)?
    public private(set) var counters = Counters()
    private let transmit: ([UInt8]) -> Void
    private var backlog = HostInputBacklog<[UInt8]>(limit: VirtioNet.receiveBacklogLimit)
    private var scratch = [UInt8](repeating: 0, count: VirtioNet.headerSize + VirtioNet.maxFrameSize)
    /// Called (under the caller's lock) when the backlog had been full and has room again.
    public var roomAvailable: (@Sendable () -> Void)? {
        get { backlog.roomAvailable }
        set { backlog.roomAvailable = newValue }
    }

    /// `transmit` gets each frame the guest sends: behind its virtio_net_hdr with `headerPassthrough`, bare otherwise.
    public init(mac: [UInt8], queueSize: UInt16 = 256, headerPassthrough: Bool = false,
                transmit: @escaping ([UInt8]) -> Void) {
        precondition(mac.count == 6, "a MAC address has 6 bytes")
        self.mac = mac
        maxQueueSize = queueSize
        self.headerPassthrough = headerPassthrough
        self.transmit = transmit
    }

    public var deviceType: UInt16 { 1 }
    public var queueCount: Int { 2 }
    public var pciClassCode: UInt32 { 0x02_0000 }  // Ethernet controller
    public var offeredFeatures: UInt64 {
        VirtioFeature.version1 | VirtioFeature.indirectDescriptors | VirtioFeature.eventIndex
            | Feature.mac | Feature.status | (headerPassthrough ? Feature.offloads : 0)
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
    public func activate(features: UInt64) {
        negotiated = features
        if headerPassthrough { receiveOffloadsChanged?(ReceiveOffloads(features: features)) }
    }

    public func reset() {
        backlog.removeAll()
        negotiated = 0
        if headerPassthrough { receiveOffloadsChanged?([]) }
    }

    // MARK: - Host side

    public var pendingFrames: Int { backlog.count }
    /// How many frames `enqueueReceived` accepts now.
    public var receiveRoom: Int { backlog.room }

    /// The longest unit `enqueueReceived` takes: a frame, behind its header with `headerPassthrough`.
    public var maxReceivedSize: Int { Self.maxFrameSize + (headerPassthrough ? Self.headerSize : 0) }

    /// Holds a frame from the host for the guest (behind its virtio_net_hdr with `headerPassthrough`); false when the
    /// backlog is full (the frame is not taken). Serve the receive queue afterwards.
    @discardableResult
    public func enqueueReceived(_ frame: [UInt8]) -> Bool {
        guard receiveRoom > 0 else { return false }
        guard frame.count <= maxReceivedSize else {
            counters.oversizedFrames += 1
            return true
        }
        return backlog.append(frame)
    }

    /// One unit per received frame.
    public func savePendingInput() -> [[UInt8]] { Array(backlog.pending) }

    public func restorePendingInput(_ saved: [[UInt8]]) throws(DeviceStateError) {
        if let frame = saved.first(where: { $0.count > maxReceivedSize }) {
            throw DeviceStateError.invalid(device: "virtio-net", reason: "a saved received frame has \(frame.count) "
                                           + "bytes, over the largest of \(maxReceivedSize)")
        }
        try backlog.restore(saved, device: "virtio-net")
    }

    // MARK: - Queues

    public func process(queue index: Int, _ queue: inout SplitVirtqueue,
                        memory: GuestMemory) throws(VirtqueueError) -> Bool {
        index == Queue.receive ? try receive(&queue, memory) : try transmitAll(&queue, memory)
    }

    private func receive(_ queue: inout SplitVirtqueue, _ memory: GuestMemory) throws(VirtqueueError) -> Bool {
        var published = false
        while let frame = backlog.first, let chain = try queue.pop(from: memory) {
            guard chain.readable.isEmpty else { throw .badRequest("a receive buffer is driver-readable") }
            backlog.removeFirst()
            var written: UInt32 = 0
            let bare = headerPassthrough ? frame.count - Self.headerSize : frame.count
            if var header = receivedHeader(frame), bare >= 0 {
                if chain.writableLength >= UInt64(Self.headerSize + bare) {
                    // One buffer per packet (no VIRTIO_NET_F_MRG_RXBUF). Both bytes: a TAP skips num_buffers
                    // without writing it, so the backend's copy may hold stale bytes there.
                    header[Header.numBuffersOffset] = 1
                    header[Header.numBuffersOffset + 1] = 0
                    var cursor = GuestBufferCursor(chain.writable)
                    let headerBytes = header.withUnsafeBytes { (try? cursor.write($0, to: memory)) ?? 0 }
                    let frameBytes = frame.withUnsafeBytes {
                        (try? cursor.write(UnsafeRawBufferPointer(rebasing: $0[(frame.count - bare)...]), to: memory)) ?? 0
                    }
                    written = UInt32(headerBytes + frameBytes)
                    counters.receivedFrames += 1
                } else {
                    counters.oversizedFrames += 1
                }
            } else {
                counters.refusedFrames += 1
            }
            try queue.pushUsed(head: chain.head, writtenLength: written, to: memory)
            published = true
        }
        return published
    }

    /// The header the driver gets for a received packet: zeros for a bare frame; the backend's own, checked against
    /// what the driver accepted, with `headerPassthrough` (nil: the driver cannot take this packet).
    private func receivedHeader(_ packet: [UInt8]) -> [UInt8]? {
        var header = [UInt8](repeating: 0, count: Self.headerSize)
        guard headerPassthrough else { return header }
        guard packet.count >= Self.headerSize else { return nil }
        header.replaceSubrange(0..<Self.headerSize, with: packet[0..<Self.headerSize])
        let offloads = ReceiveOffloads(features: negotiated)
        if !offloads.contains(.checksum) {
            guard header[Header.flagsOffset] & Header.needsChecksum == 0 else { return nil }
            header[Header.flagsOffset] = 0  // DATA_VALID is for a driver that accepted GUEST_CSUM only
        }
        switch header[Header.gsoTypeOffset] & ~Header.gsoECN {
        case 0: break
        case Header.gsoTCPv4 where offloads.contains(.tso4), Header.gsoTCPv6 where offloads.contains(.tso6): break
        default: return nil
        }
        if header[Header.gsoTypeOffset] & Header.gsoECN != 0 && !offloads.contains(.ecn) { return nil }
        return header
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
                    transmit(Array(scratch[(headerPassthrough ? 0 : Self.headerSize)..<copied]))
                    counters.transmittedFrames += 1
                }
            }
            try queue.pushUsed(head: chain.head, writtenLength: 0, to: memory)
            published = true
        }
        return published
    }
}
