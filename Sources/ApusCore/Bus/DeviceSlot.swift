import Synchronization

/// A device guarded by a lock, shared by the vCPU threads that trap into it and the host threads that feed it
/// (console input, timers). Every access to the device goes through `withDevice`.
public final class DeviceSlot: Sendable {
    public let name: String
    private let lock = Mutex<Void>(())
    // nonisolated(unsafe): only touched inside `lock`.
    nonisolated(unsafe) private let device: any BusDevice

    public init(name: String, device: any BusDevice) {
        self.name = name
        self.device = device
    }

    public func withDevice<R>(_ body: (any BusDevice) throws -> R) rethrows -> R {
        try lock.withLock { _ in try body(device) }
    }

    /// Typed access for the owner of the slot, who knows the concrete device type.
    public func with<D: BusDevice, R>(_ type: D.Type, _ body: (D) throws -> R) rethrows -> R? {
        try lock.withLock { _ in
            guard let typed = device as? D else { return nil }
            return try body(typed)
        }
    }
}
