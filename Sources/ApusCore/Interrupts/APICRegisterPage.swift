/// A local APIC's registers as the xAPIC MMIO page lays them out (SDM vol. 3, table 11-1): 32-bit registers at
/// 16-byte steps over the first 1 KiB. It is how a backend that keeps the LAPIC itself (KVM_GET_LAPIC's
/// `kvm_lapic_state`) hands it to the VMM, which turns it into its own serializable LAPIC state, so a suspended
/// machine restores on either backend.
public struct APICRegisterPage: Sendable, Equatable, Codable {
    public static let size = 1024
    public private(set) var bytes: [UInt8]

    public init() { bytes = Array(repeating: 0, count: Self.size) }

    /// Nil unless `bytes` is exactly one page.
    public init?(bytes: [UInt8]) {
        guard bytes.count == Self.size else { return nil }
        self.bytes = bytes
    }

    /// The 32-bit register at `offset` (little-endian); offsets outside the page read 0 and ignore writes.
    public subscript(offset: Int) -> UInt32 {
        get {
            guard offset >= 0, offset + 4 <= Self.size else { return 0 }
            return (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << UInt32(8 * $1) }
        }
        set {
            guard offset >= 0, offset + 4 <= Self.size else { return }
            for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: newValue >> UInt32(8 * index)) }
        }
    }
}
