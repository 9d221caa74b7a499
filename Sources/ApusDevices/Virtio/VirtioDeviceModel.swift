public import ApusCore

/// A virtio device type (block, net, ...) independent of its transport: features, configuration space, and what it
/// does with its queues. The transport owns negotiation, queue setup, interrupts and the needs-reset state.
public protocol VirtioDeviceModel: AnyObject {
    /// The virtio device ID (2 = block).
    var deviceType: UInt16 { get }
    /// Feature bits offered, device-specific and transport (VERSION_1 and ring features) together.
    var offeredFeatures: UInt64 { get }
    var queueCount: Int { get }
    var maxQueueSize: UInt16 { get }
    /// The PCI class code (e.g. 0x01_8000 mass storage, other).
    var pciClassCode: UInt32 { get }

    func readConfig(offset: Int, size: Int) -> UInt64
    func writeConfig(offset: Int, size: Int, value: UInt64)

    /// The driver set DRIVER_OK with these features.
    func activate(features: UInt64)
    /// The driver reset the device (status 0).
    func reset()

    /// Serves the chains available on queue `index`. Returns whether any used entries were published; throws when
    /// the driver broke the protocol (the transport then sets DEVICE_NEEDS_RESET).
    func process(queue index: Int, _ queue: inout SplitVirtqueue, memory: GuestMemory) throws(VirtqueueError) -> Bool

    /// Host input the device holds that is not in guest memory yet (received frames, console bytes), for a snapshot,
    /// oldest first: one element per unit of the device's backlog.
    func savePendingInput() -> [[UInt8]]
    /// Takes back what `savePendingInput` returned; refuses more, or larger units, than the device can hold.
    func restorePendingInput(_ saved: [[UInt8]]) throws(DeviceStateError)
}

extension VirtioDeviceModel {
    /// A device without host input saves none.
    public func savePendingInput() -> [[UInt8]] { [] }

    /// A device without host input accepts only an empty backlog.
    public func restorePendingInput(_ saved: [[UInt8]]) throws(DeviceStateError) {
        guard saved.isEmpty else {
            throw DeviceStateError.invalid(device: "virtio device \(deviceType)",
                                           reason: "it holds no host input, but the saved state has some")
        }
    }
}

/// Feature bits shared by all devices (virtio 1.x, 6).
public enum VirtioFeature {
    public static let indirectDescriptors: UInt64 = 1 << 28
    public static let eventIndex: UInt64 = 1 << 29
    public static let version1: UInt64 = 1 << 32
}

/// Device status bits (virtio 1.x, 2.1).
public enum VirtioStatus {
    public static let acknowledge: UInt8 = 1
    public static let driver: UInt8 = 2
    public static let driverOK: UInt8 = 4
    public static let featuresOK: UInt8 = 8
    public static let needsReset: UInt8 = 0x40
    public static let failed: UInt8 = 0x80
}
