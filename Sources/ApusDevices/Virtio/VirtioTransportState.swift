/// The virtio-pci transport's registers and queues, a value so it can be saved and restored with the device.
public struct VirtioTransportState: Codable, Equatable, Sendable {
    public static let noVector: UInt16 = 0xFFFF

    public struct Queue: Codable, Equatable, Sendable {
        public var size: UInt16
        public var msixVector: UInt16 = VirtioTransportState.noVector
        public var enabled = false
        public var descriptorTable: UInt64 = 0
        public var driverArea: UInt64 = 0
        public var deviceArea: UInt64 = 0
        /// The live ring, once the driver enabled the queue with a valid layout.
        public var ring: SplitVirtqueue?
    }

    public var status: UInt8 = 0
    public var deviceFeatureSelect: UInt32 = 0
    public var driverFeatureSelect: UInt32 = 0
    public var driverFeatures: UInt64 = 0
    public var configVector: UInt16 = noVector
    public var queueSelect: UInt16 = 0
    public var configGeneration: UInt8 = 0
    /// ISR bits: 0 a queue interrupt, 1 a configuration change.
    public var isr: UInt8 = 0
    public var queues: [Queue]

    public init(queueCount: Int, maxQueueSize: UInt16) {
        queues = [Queue](repeating: Queue(size: maxQueueSize), count: queueCount)
    }
}
