public import ApusCore

/// virtio-console (virtio 1.x 5.3) with its single port 0 (no MULTIPORT): receiveq 0 carries host bytes to the
/// guest, transmitq 1 carries the guest's bytes (Linux's /dev/hvc0) to `output`.
///
/// Host input waits in a bounded backlog until the driver posts receive buffers; `inputRoom` tells a host reader how
/// much it may hand over, and `roomAvailable` is called when room appears again, so nothing is dropped.
public final class VirtioConsole: VirtioDeviceModel {
    public enum Queue {
        public static let receive = 0
        public static let transmit = 1
    }

    /// Host bytes held for the guest at most.
    public static let inputBacklogLimit = 64 * 1024
    /// Bytes taken from one transmit chain at most; a driver sending more has the excess dropped (and logged once).
    public static let maxBytesPerTransmit = 1 << 20

    public let maxQueueSize: UInt16
    private let output: ([UInt8]) -> Void
    private let log: (@Sendable (String) -> Void)?
    private var backlog = HostInputBacklog<UInt8>(limit: VirtioConsole.inputBacklogLimit)
    private var truncatedTransmit = false
    /// Called (under the caller's lock) when the backlog had been full and has room again.
    public var roomAvailable: (@Sendable () -> Void)? {
        get { backlog.roomAvailable }
        set { backlog.roomAvailable = newValue }
    }

    public init(queueSize: UInt16 = 64, output: @escaping ([UInt8]) -> Void,
                log: (@Sendable (String) -> Void)? = nil) {
        maxQueueSize = queueSize
        self.output = output
        self.log = log
    }

    public var deviceType: UInt16 { 3 }
    public var queueCount: Int { 2 }
    public var pciClassCode: UInt32 { 0x07_8000 }  // simple communication controller, other
    public var offeredFeatures: UInt64 {
        VirtioFeature.version1 | VirtioFeature.indirectDescriptors | VirtioFeature.eventIndex
    }

    /// struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr. None of its features is offered, so the
    /// driver reads nothing meaningful here; zeros are what an unsized, single-port console reports.
    public func readConfig(offset: Int, size: Int) -> UInt64 { 0 }
    public func writeConfig(offset: Int, size: Int, value: UInt64) {}
    public func activate(features: UInt64) {}

    public func reset() { backlog.removeAll() }

    // MARK: - Host input

    /// Bytes waiting for the guest.
    public var pendingInput: Int { backlog.count }
    /// How many bytes `enqueueInput` accepts now.
    public var inputRoom: Int { backlog.room }

    /// Takes as many of `bytes` as there is room for; returns how many. Serve the receive queue afterwards.
    @discardableResult
    public func enqueueInput(_ bytes: some Collection<UInt8>) -> Int { backlog.append(contentsOf: bytes) }

    /// The pending bytes as one unit.
    public func savePendingInput() -> [[UInt8]] { backlog.isEmpty ? [] : [Array(backlog.pending)] }

    public func restorePendingInput(_ saved: [[UInt8]]) throws(DeviceStateError) {
        try backlog.restore(saved.flatMap { $0 }, device: "virtio-console")
    }

    // MARK: - Queues

    public func process(queue index: Int, _ queue: inout SplitVirtqueue,
                        memory: GuestMemory) throws(VirtqueueError) -> Bool {
        index == Queue.receive ? try receive(&queue, memory) : try transmit(&queue, memory)
    }

    private func receive(_ queue: inout SplitVirtqueue, _ memory: GuestMemory) throws(VirtqueueError) -> Bool {
        var published = false
        while !backlog.isEmpty, let chain = try queue.pop(from: memory) {
            guard chain.readable.isEmpty else { throw .badRequest("a receive buffer is driver-readable") }
            let count = Int(min(chain.writableLength, UInt64(backlog.count)))
            var cursor = GuestBufferCursor(chain.writable)
            let written = backlog.pending.prefix(count).withUnsafeBytes { (try? cursor.write($0, to: memory)) ?? 0 }
            backlog.removeFirst(written)
            try queue.pushUsed(head: chain.head, writtenLength: UInt32(written), to: memory)
            published = true
        }
        return published
    }

    private func transmit(_ queue: inout SplitVirtqueue, _ memory: GuestMemory) throws(VirtqueueError) -> Bool {
        var published = false
        while let chain = try queue.pop(from: memory) {
            guard chain.writable.isEmpty else { throw .badRequest("a transmit buffer is device-writable") }
            var count = Int(min(chain.readableLength, UInt64(Self.maxBytesPerTransmit)))
            if UInt64(count) < chain.readableLength && !truncatedTransmit {
                truncatedTransmit = true
                log?("virtio-console: a transmit buffer over \(Self.maxBytesPerTransmit) bytes was cut short")
            }
            var bytes = [UInt8](repeating: 0, count: count)
            var cursor = GuestBufferCursor(chain.readable)
            count = bytes.withUnsafeMutableBytes { (try? cursor.read(into: $0, from: memory)) ?? 0 }
            if count > 0 { output(Array(bytes[0..<count])) }
            try queue.pushUsed(head: chain.head, writtenLength: 0, to: memory)
            published = true
        }
        return published
    }
}
