/// The CPU side of an interrupt controller that sits outside the CPU (the PC's 8259A pair): the INTR input and the
/// interrupt-acknowledge cycle. Both backends are connected to the VMM's (KVM injects its vector with KVM_INTERRUPT).
public protocol ExternalInterruptController: AnyObject, Sendable {
    /// Whether INTR is high: an unmasked request waits to be delivered.
    var pendingInterrupt: Bool { get }
    /// The acknowledge cycle: the vector to deliver, or nil if the request went away.
    func acknowledge() -> UInt8?
    /// Input `gsi` (ISA IRQs 0-15) as a line for a device; any other number is `InterruptRoutingError.unroutable`.
    func line(_ gsi: Int) throws -> any InterruptLine
}
