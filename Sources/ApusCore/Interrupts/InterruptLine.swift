/// The trigger a device raises: one input pin of the interrupt controller.
///
/// Devices only ever see this protocol, so they never learn which backend or controller sits behind it
/// (KVM's in-kernel irqchip, the software CPU's controller, or a test recorder).
public protocol InterruptLine: Sendable {
    /// Drives the pin high (asserted) or low. Level-triggered sources keep it high while their condition holds.
    func setLevel(_ asserted: Bool)
}

extension InterruptLine {
    /// An edge: high then low, for edge-triggered inputs.
    public func pulse() {
        setLevel(true)
        setLevel(false)
    }
}

/// A line connected to nothing, for devices that are built before their machine exists.
public struct DisconnectedInterruptLine: InterruptLine {
    public init() {}
    public func setLevel(_ asserted: Bool) {}
}
