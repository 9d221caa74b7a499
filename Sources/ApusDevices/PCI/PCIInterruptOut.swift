public import ApusCore

/// Where a PCI function's interrupts leave the device: its INTx pin, and MSI-X message writes. Narrow on purpose, so
/// the VMM can connect it to the platform's interrupt controllers (INTx through an IOAPIC pin, MSI messages through
/// the machine's MSI path) without the device knowing either.
public protocol MSIMessageSink: Sendable {
    /// A message-signalled interrupt: the 32-bit `data` written to `address` (0xFEEx_xxxx on x86).
    func deliver(address: UInt64, data: UInt32)
}

public struct PCIInterruptOut: Sendable {
    public var intx: any InterruptLine
    public var msi: (any MSIMessageSink)?

    public init(intx: any InterruptLine, msi: (any MSIMessageSink)? = nil) {
        self.intx = intx
        self.msi = msi
    }

    public static let disconnected = PCIInterruptOut(intx: DisconnectedInterruptLine())
}
