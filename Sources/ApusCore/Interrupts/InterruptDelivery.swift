/// One interrupt as a local APIC receives it, after the destination has been decoded.
public struct InterruptRequest: Sendable, Equatable {
    public var vector: UInt8
    public var deliveryMode: DeliveryMode
    public var levelTriggered: Bool

    public init(vector: UInt8, deliveryMode: DeliveryMode = .fixed, levelTriggered: Bool = false) {
        self.vector = vector
        self.deliveryMode = deliveryMode
        self.levelTriggered = levelTriggered
    }
}

/// The receiving end of the APIC bus in one vCPU (its local APIC): says whether a destination names it and takes
/// interrupts addressed to it. Called from any thread.
public protocol InterruptAcceptor: AnyObject, Sendable {
    /// Whether `destination` (an APIC ID, or a logical set when `logical`) addresses this vCPU.
    func isAddressed(by destination: UInt32, logical: Bool) -> Bool
    /// The arbitration priority lowest-priority delivery compares (SDM 11.6.2.4): lower wins.
    var arbitrationPriority: UInt8 { get }
    func accept(_ request: InterruptRequest)
}

/// A level-triggered source (the IOAPIC) hears every EOI of a level-triggered vector, so it can clear its remote IRR
/// and deliver again if its input is still asserted.
public protocol EndOfInterruptListener: AnyObject, Sendable {
    func endOfInterrupt(vector: UInt8)
}

/// Where MSIs go: the machine's APIC bus on the software CPU, KVM_SIGNAL_MSI on KVM.
public protocol MSISink: Sendable {
    /// Delivers `message`; a malformed one (outside the MSI window, a reserved delivery mode) is dropped, as the
    /// chipset drops such a write, and reported false.
    @discardableResult
    func deliver(_ message: MSIMessage) -> Bool
}
