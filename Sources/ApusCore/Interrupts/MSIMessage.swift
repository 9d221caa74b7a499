/// A message-signalled interrupt as the Intel SDM (vol. 3, 11.11) defines it: a 32-bit write of `data` to `address`
/// in the 0xFEExxxxx window. The IOAPIC's redirection entries, PCI MSI/MSI-X and inter-processor interrupts are all
/// turned into this one shape before they reach a local APIC.
public struct MSIMessage: Sendable, Equatable, Hashable, Codable {
    public var address: UInt64
    public var data: UInt32

    /// The fixed window every MSI address falls in.
    public static let addressBase: UInt64 = 0xFEE0_0000

    public init(address: UInt64, data: UInt32) {
        self.address = address
        self.data = data
    }

    public init(vector: UInt8, deliveryMode: DeliveryMode = .fixed, destination: UInt8, logicalDestination: Bool = false,
                redirectionHint: Bool = false, levelTriggered: Bool = false, assert: Bool = true) {
        address = Self.addressBase | UInt64(destination) << 12 | (redirectionHint ? 1 << 3 : 0)
            | (logicalDestination ? 1 << 2 : 0)
        data = UInt32(vector) | UInt32(deliveryMode.rawValue) << 8 | (assert ? 1 << 14 : 0) | (levelTriggered ? 1 << 15 : 0)
    }

    /// Whether the address lies in the MSI window at all; a write elsewhere is not an interrupt.
    public var isWellFormed: Bool { address & 0xFFF0_0000 == Self.addressBase && DeliveryMode(rawValue: UInt8((data >> 8) & 7)) != nil }
    /// Address bits 19:12: an APIC ID (physical) or a logical destination set.
    public var destinationID: UInt8 { UInt8(truncatingIfNeeded: address >> 12) }
    public var redirectionHint: Bool { address & (1 << 3) != 0 }
    public var logicalDestination: Bool { address & (1 << 2) != 0 }
    public var vector: UInt8 { UInt8(truncatingIfNeeded: data) }
    /// Bits 10:8; the reserved encodings 3 decode as nil.
    public var deliveryMode: DeliveryMode? { DeliveryMode(rawValue: UInt8((data >> 8) & 7)) }
    public var levelTriggered: Bool { data & (1 << 15) != 0 }
    public var assert: Bool { data & (1 << 14) != 0 }
}

/// How the receiving local APIC treats an interrupt (SDM 11.6.1; the same encoding in MSIs, the IOAPIC and the ICR).
public enum DeliveryMode: UInt8, Sendable, Codable {
    case fixed = 0
    case lowestPriority = 1
    case smi = 2
    case nmi = 4
    case initialize = 5
    case startup = 6
    case externalInterrupt = 7
}
