/// A device as the bus sees it: registers read and written at an offset from the device's base.
///
/// Devices are state machines: they never block, never know the backend, and raise interrupts only through the
/// `InterruptLine` they were given. Offsets are relative to the range the device was inserted at.
public protocol BusDevice: AnyObject {
    /// Reads `size` bytes (1, 2, 4 or 8) at `offset`; the value is zero-extended.
    func read(offset: UInt64, size: Int) -> UInt64
    /// Writes the low `size` bytes of `value` at `offset`.
    func write(offset: UInt64, size: Int, value: UInt64)
}

/// A device whose complete state is a separate value type, so suspend, snapshot and migration can save and restore
/// it without knowing the device.
public protocol StatefulDevice: BusDevice {
    associatedtype State: Codable & Sendable & Equatable
    func saveState() -> State
    /// Throws if `state` is inconsistent (it may come from a file on disk): the device is left unchanged.
    func restoreState(_ state: State) throws
}
