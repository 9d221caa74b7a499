public import ApusCore

/// The 82093AA I/O APIC as a pure state machine: 24 input pins, each with a 64-bit redirection entry, edge or level
/// triggering with remote IRR, masked pins, and the IOREGSEL/IOWIN window. Operations return the MSIs to deliver;
/// the caller sends them.
public struct IOAPICState: Codable, Sendable, Equatable {
    public static let pinCount = 24
    /// Version 0x11 with 23 as the highest redirection entry, like KVM's and QEMU's.
    public static let version: UInt32 = UInt32(pinCount - 1) << 16 | 0x11

    public var id: UInt32 = 0
    public var selectedRegister: UInt32 = 0
    /// Bits 7:0 vector, 10:8 delivery mode, 11 destination mode, 12 delivery status (read-only, idle), 13 polarity,
    /// 14 remote IRR (read-only), 15 trigger mode, 16 mask, 63:56 destination. Masked at reset.
    public var redirection: [UInt64] = Array(repeating: IOAPICState.mask, count: IOAPICState.pinCount)
    /// Which inputs are asserted now (one bit per pin).
    public var asserted: UInt32 = 0

    static let mask: UInt64 = 1 << 16
    static let remoteIRR: UInt64 = 1 << 14
    static let levelTriggered: UInt64 = 1 << 15
    /// Bits a guest may write: everything but delivery status, remote IRR and the reserved 55:17.
    static let writable: UInt64 = 0xFF00_0000_0001_AFFF

    public init() {}

    /// A device drives pin `pin`. An edge delivers on the rising edge; a level delivers while asserted, once per EOI.
    public mutating func setLevel(pin: Int, _ high: Bool) -> [MSIMessage] {
        guard pin >= 0, pin < Self.pinCount else { return [] }
        let bit: UInt32 = 1 << UInt32(pin)
        let wasHigh = asserted & bit != 0
        if high { asserted |= bit } else { asserted &= ~bit }
        let entry = redirection[pin]
        if entry & Self.levelTriggered == 0 {
            return high && !wasHigh ? deliver(pin) : []
        }
        return high ? deliver(pin) : []
    }

    /// Sends pin `pin`'s interrupt if it is unmasked (and, for a level, not already waiting for its EOI).
    mutating func deliver(_ pin: Int) -> [MSIMessage] {
        let entry = redirection[pin]
        guard entry & Self.mask == 0 else { return [] }
        let level = entry & Self.levelTriggered != 0
        if level {
            guard entry & Self.remoteIRR == 0 else { return [] }
            redirection[pin] |= Self.remoteIRR
        }
        return [message(forPin: pin)]
    }

    /// The MSI pin `pin`'s redirection entry describes, whether or not the pin is masked.
    public func message(forPin pin: Int) -> MSIMessage {
        let entry = redirection[pin]
        let mode = DeliveryMode(rawValue: UInt8((entry >> 8) & 7)) ?? .fixed
        return MSIMessage(vector: UInt8(truncatingIfNeeded: entry), deliveryMode: mode,
                          destination: UInt8(truncatingIfNeeded: entry >> 56), logicalDestination: entry & (1 << 11) != 0,
                          levelTriggered: entry & Self.levelTriggered != 0)
    }

    /// What every pin sends, pin 0 first.
    public var routes: [MSIMessage] { redirection.indices.map { message(forPin: $0) } }

    /// A local APIC's EOI of `vector`: every level pin with that vector drops its remote IRR and, still asserted,
    /// delivers again.
    public mutating func endOfInterrupt(vector: UInt8) -> [MSIMessage] {
        var messages: [MSIMessage] = []
        for pin in 0..<Self.pinCount {
            let entry = redirection[pin]
            guard entry & Self.remoteIRR != 0, UInt8(truncatingIfNeeded: entry) == vector else { continue }
            redirection[pin] &= ~Self.remoteIRR
            if asserted & (1 << UInt32(pin)) != 0 { messages += deliver(pin) }
        }
        return messages
    }

    // MARK: Registers (IOREGSEL at 0x00, IOWIN at 0x10)

    public func read(offset: UInt64) -> UInt32 {
        guard offset == 0x10 else { return offset == 0 ? selectedRegister : 0 }
        switch selectedRegister {
        case 0x00: return id << 24
        case 0x01: return Self.version
        case 0x02: return id << 24   // arbitration ID
        case 0x10..<(0x10 + 2 * UInt32(Self.pinCount)):
            let entry = redirection[Int(selectedRegister - 0x10) / 2]
            return UInt32(truncatingIfNeeded: selectedRegister & 1 == 0 ? entry : entry >> 32)
        default: return 0   // reserved indirect registers read as zero
        }
    }

    public mutating func write(offset: UInt64, value: UInt32) -> [MSIMessage] {
        if offset == 0 {
            selectedRegister = value & 0xFF
            return []
        }
        guard offset == 0x10 else { return [] }
        switch selectedRegister {
        case 0x00: id = (value >> 24) & 0xF
        case 0x10..<(0x10 + 2 * UInt32(Self.pinCount)):
            let pin = Int(selectedRegister - 0x10) / 2
            let old = redirection[pin]
            let half: UInt64 = selectedRegister & 1 == 0 ? 0xFFFF_FFFF : 0xFFFF_FFFF_0000_0000
            let shifted = selectedRegister & 1 == 0 ? UInt64(value) : UInt64(value) << 32
            var entry = (old & ~(half & Self.writable)) | (shifted & half & Self.writable)
            // An edge-triggered pin has no remote IRR (Linux clears a stuck one by switching the pin to edge).
            if entry & Self.levelTriggered == 0 { entry &= ~Self.remoteIRR }
            redirection[pin] = entry
            // Unmasking a level pin whose input is still asserted delivers it now.
            if entry & Self.levelTriggered != 0 && asserted & (1 << UInt32(pin)) != 0 { return deliver(pin) }
        default: break   // version and arbitration are read-only; other indices are reserved
        }
        return []
    }
}
